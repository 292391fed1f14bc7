"""The Kinesis path: ingestion publishes to Kinesis (moto), the writer's Lambda handler gets the
real records as a Lambda event. GIVEN one poisoned record THEN only it is reported as failed."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import boto3
import psycopg
from prism.adapters.kinesis import KinesisBus
from prism.adapters.memory import MemoryRawPayloadStore
from prism.adapters.postgres import PostgresLogStore
from prism.adapters.s3 import S3DeadLetters
from prism.ingest import Ingestor
from prism.redact import RegexRedactor
from prism.write import RecordWriter
from writer.handler import handle
from writer.replay import replay

from tests.integration.pipeline.conftest import make_event
from tests.support.lambda_context import LambdaContext


def lambda_event(client: Any, stream: str, extra: list[bytes]) -> dict[str, Any]:
    shard = client.describe_stream(StreamName=stream)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = client.get_shard_iterator(StreamName=stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    records = client.get_records(ShardIterator=iterator["ShardIterator"], Limit=1000)["Records"]
    for data in extra:
        seq = client.put_record(StreamName=stream, Data=data, PartitionKey="poison")["SequenceNumber"]
        records.append({"SequenceNumber": seq, "Data": data, "PartitionKey": "poison"})
    return {
        "Records": [
            {
                "eventSource": "aws:kinesis",
                "eventSourceARN": f"arn:aws:kinesis:us-east-1:123456789012:stream/{stream}",
                "eventID": f"shardId-000000000000:{r['SequenceNumber']}",
                "eventName": "aws:kinesis:record",
                "awsRegion": "us-east-1",
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": r["PartitionKey"],
                    "sequenceNumber": r["SequenceNumber"],
                    "data": base64.b64encode(r["Data"]).decode(),
                    "approximateArrivalTimestamp": 1.0,
                },
            }
            for r in records
        ]
    }


def test_kinesis_batch_with_one_poisoned_record_reports_only_it(clean_database: str, aws_endpoint: str) -> None:
    client = boto3.client("kinesis", endpoint_url=aws_endpoint)
    stream = f"prism-test-{uuid.uuid4().hex[:8]}"
    client.create_stream(StreamName=stream, ShardCount=1)
    client.get_waiter("stream_exists").wait(StreamName=stream)

    ingestor = Ingestor(KinesisBus(stream, client=client), RegexRedactor(), MemoryRawPayloadStore())
    assert ingestor.ingest([make_event() for _ in range(10)]).accepted == 10
    event = lambda_event(client, stream, [b"\x00poison"])
    poison_seq = event["Records"][-1]["kinesis"]["sequenceNumber"]

    store = PostgresLogStore(clean_database)
    writer = RecordWriter(store, MemoryRawPayloadStore())
    response = handle(event, writer)
    assert response == {"batchItemFailures": [{"itemIdentifier": poison_seq}]}

    # Lambda retries the batch (or bisects it): the good records are not written twice.
    again = handle(event, writer)
    assert again == {"batchItemFailures": [{"itemIdentifier": poison_seq}]}
    with psycopg.connect(clean_database) as conn:
        assert conn.execute("SELECT count(*) FROM inference_logs").fetchone() == (10,)
    store.close()


def test_all_good_batch_reports_nothing(clean_database: str, aws_endpoint: str) -> None:
    client = boto3.client("kinesis", endpoint_url=aws_endpoint)
    stream = f"prism-test-{uuid.uuid4().hex[:8]}"
    client.create_stream(StreamName=stream, ShardCount=1)
    client.get_waiter("stream_exists").wait(StreamName=stream)
    bus = KinesisBus(stream, client=client)
    Ingestor(bus, RegexRedactor(), MemoryRawPayloadStore()).ingest([make_event() for _ in range(3)])
    store = PostgresLogStore(clean_database)
    assert handle(lambda_event(client, stream, []), RecordWriter(store)) == {"batchItemFailures": []}
    store.close()


def test_kinesis_resends_only_failed_records() -> None:
    class FlakyKinesis:
        def __init__(self) -> None:
            self.calls: list[list[bytes]] = []

        def put_records(self, StreamName: str, Records: list[dict[str, Any]]) -> dict[str, Any]:
            self.calls.append([r["Data"] for r in Records])
            first = len(self.calls) == 1
            return {
                "FailedRecordCount": 1 if first else 0,
                "Records": [
                    {"ErrorCode": "ProvisionedThroughputExceededException"}
                    if first and i == 1
                    else {"SequenceNumber": "1"}
                    for i in range(len(Records))
                ],
            }

    fake = FlakyKinesis()
    result = KinesisBus("s", client=fake).publish([("a", b"1"), ("b", b"2"), ("c", b"3")])
    assert result.published == 3 and result.failed == []
    assert fake.calls == [[b"1", b"2", b"3"], [b"2"]]


def test_records_that_are_not_base64_or_have_no_data_are_reported_and_the_rest_stored(
    clean_database: str, aws_endpoint: str
) -> None:
    client = boto3.client("kinesis", endpoint_url=aws_endpoint)
    stream = f"prism-test-{uuid.uuid4().hex[:8]}"
    client.create_stream(StreamName=stream, ShardCount=1)
    client.get_waiter("stream_exists").wait(StreamName=stream)
    Ingestor(KinesisBus(stream, client=client), RegexRedactor(), None).ingest([make_event() for _ in range(6)])
    event = lambda_event(client, stream, [b"x", b"y"])
    not_base64, no_data = event["Records"][-2], event["Records"][-1]
    not_base64["kinesis"]["data"] = "%%% not base64 %%%"
    del no_data["kinesis"]["data"]
    event["Records"] = [not_base64, *event["Records"][:-2], no_data]  # bad ones first and last

    store = PostgresLogStore(clean_database)
    response = handle(event, RecordWriter(store))
    store.close()
    failures = {f["itemIdentifier"] for f in response["batchItemFailures"]}
    assert failures == {not_base64["kinesis"]["sequenceNumber"], no_data["kinesis"]["sequenceNumber"]}
    with psycopg.connect(clean_database) as conn:
        assert conn.execute("SELECT count(*) FROM inference_logs").fetchone() == (6,)


def test_the_handler_dead_letters_to_s3_and_replay_writes_the_fixed_record_once(
    clean_database: str, aws_endpoint: str, s3_bucket: str
) -> None:
    """GIVEN a Kinesis batch with one undecodable record and one whose raw payload is missing
    WHEN the handler runs THEN the good rows are written, both records' data and reasons are in
    s3://<raw bucket>/dead-letters/<date>/<seq>.json and no item is reported failed; AFTER the raw
    payload is back, replay writes that record and removes its letter; a second replay adds nothing."""
    client = boto3.client("kinesis", endpoint_url=aws_endpoint)
    s3 = boto3.client("s3", endpoint_url=aws_endpoint)
    stream = f"prism-test-{uuid.uuid4().hex[:8]}"
    client.create_stream(StreamName=stream, ShardCount=1)
    client.get_waiter("stream_exists").wait(StreamName=stream)
    ingest_raw = MemoryRawPayloadStore()
    ingestor = Ingestor(KinesisBus(stream, client=client), RegexRedactor(), ingest_raw, max_payload_bytes=2048)
    big = make_event(metadata={"blob": "x" * 5000})  # travels by reference to ingest_raw
    assert ingestor.ingest([make_event() for _ in range(4)] + [big]).accepted == 5
    event = lambda_event(client, stream, [b"\x00poison"])
    poison_seq = event["Records"][-1]["kinesis"]["sequenceNumber"]
    big_seq = event["Records"][-2]["kinesis"]["sequenceNumber"]

    store = PostgresLogStore(clean_database)
    writer_raw = MemoryRawPayloadStore()  # does not hold the big event's payload (yet)
    writer = RecordWriter(store, writer_raw)
    letters = S3DeadLetters(s3_bucket, client=s3)
    now = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)
    assert handle(event, writer, LambdaContext(), letters, lambda: now) == {"batchItemFailures": []}

    def letter(seq: str) -> dict[str, Any]:
        key = f"dead-letters/2026-11-27/{seq}.json"
        return dict(json.loads(s3.get_object(Bucket=s3_bucket, Key=key)["Body"].read()))

    assert base64.b64decode(letter(poison_seq)["data"]) == b"\x00poison"
    assert letter(poison_seq)["reason"]
    assert "raw payload" in letter(big_seq)["reason"]

    def count() -> int:
        with psycopg.connect(clean_database) as conn:
            row = conn.execute("SELECT count(*) FROM inference_logs").fetchone()
        return int(row[0]) if row else -1

    assert count() == 4

    writer_raw.objects.update(ingest_raw.objects)  # the cause is fixed
    first = replay(letters, writer)
    assert (first.replayed, first.written, first.unreadable) == (1, 1, 0)
    assert first.still_failing == 1  # the poison record stays a letter
    assert count() == 5
    second = replay(letters, writer)
    assert (second.replayed, second.written) == (0, 0)
    assert count() == 5
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=s3_bucket, Prefix="dead-letters/").get("Contents", [])]
    assert keys == [f"dead-letters/2026-11-27/{poison_seq}.json"]
    store.close()
