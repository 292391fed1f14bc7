#!/bin/bash
# LocalStack ready.d hook (run inside the localstack container once it serves requests):
# the AWS resources Prism's functions expect in compose, mirroring template.yaml. Idempotent.
# No raw payload bucket: compose keeps raw payloads on the raw-payloads volume (compose.yaml,
# x-raw-store), since this image keeps S3 in memory only.
set -euo pipefail

STREAM="${PRISM_KINESIS_STREAM:-prism-inference-logged}"
DLQ="${PRISM_WRITER_DLQ:-prism-writer-dead-letters}"

if ! awslocal kinesis describe-stream-summary --stream-name "$STREAM" >/dev/null 2>&1; then
  awslocal kinesis create-stream --stream-name "$STREAM" --shard-count 1
fi
awslocal kinesis wait stream-exists --stream-name "$STREAM"

awslocal sqs create-queue --queue-name "$DLQ" >/dev/null

echo "prism: stream $STREAM, dead-letter queue $DLQ ready"
