#!/bin/bash
# LocalStack ready.d hook (run inside the localstack container once it serves requests):
# the AWS resources Prism's functions expect, mirroring template.yaml. Idempotent.
set -euo pipefail

BUCKET="${PRISM_RAW_BUCKET:-prism-raw-payloads}"
STREAM="${PRISM_KINESIS_STREAM:-prism-inference-logged}"
DLQ="${PRISM_WRITER_DLQ:-prism-writer-dead-letters}"

if ! awslocal s3api head-bucket --bucket "$BUCKET" >/dev/null 2>&1; then
  awslocal s3api create-bucket --bucket "$BUCKET" >/dev/null
fi
awslocal s3api put-public-access-block --bucket "$BUCKET" --public-access-block-configuration \
  BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true
awslocal s3api put-bucket-lifecycle-configuration --bucket "$BUCKET" --lifecycle-configuration \
  '{"Rules":[{"ID":"expire-raw-payloads","Status":"Enabled","Filter":{"Prefix":"raw/"},"Expiration":{"Days":30}}]}'

if ! awslocal kinesis describe-stream-summary --stream-name "$STREAM" >/dev/null 2>&1; then
  awslocal kinesis create-stream --stream-name "$STREAM" --shard-count 1
fi
awslocal kinesis wait stream-exists --stream-name "$STREAM"

awslocal sqs create-queue --queue-name "$DLQ" >/dev/null

echo "prism: bucket s3://$BUCKET, stream $STREAM, dead-letter queue $DLQ ready"
