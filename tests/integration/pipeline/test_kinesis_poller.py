"""The Kinesis path runs locally: ``writer.kinesis_poller`` drives the writer's Lambda handler as
the event source mapping does, against the moto server's Kinesis and SQS. GIVEN batches with
poison records WHEN polled THEN the good records are stored exactly once, each poison record is
isolated (checkpoint before it, bisect, retries) and its batch description sent to the SQS
dead-letter queue; a restarted poller resumes from its checkpoints and invokes nothing twice."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import psycopg
import pytest
from prism.adapters.kinesis import KinesisBus, KinesisStreamReader, SqsDeadLetters
from prism.adapters.postgres import PostgresLogStore, drop_database, migrate
from prism.ingest import Ingestor
from prism.records import encode_record
from prism.redact import RegexRedactor
from prism.write import RecordWriter
from writer.handler import handle
from writer.kinesis_poller import KinesisPoller

from tests.conftest import ROOT, _db_url
from tests.integration.pipeline.conftest import make_event
from tests.support.profile import TEST_PROFILE


class Kinesis:
    """A fresh stream (and dead-letter queue name) on the moto server."""

    def __init__(self, endpoint: str, shards: int) -> None:
        self.client = boto3.client("kinesis", endpoint_url=endpoint)
        self.sqs = boto3.client("sqs", endpoint_url=endpoint)
        self.stream = f"prism-test-{uuid.uuid4().hex[:8]}"
        self.queue = f"prism-test-dlq-{uuid.uuid4().hex[:8]}"
        self.client.create_stream(StreamName=self.stream, ShardCount=shards)
        self.client.get_waiter("stream_exists").wait(StreamName=self.stream)
        self.arn = self.client.describe_stream_summary(StreamName=self.stream)["StreamDescriptionSummary"]["StreamARN"]
        self.ingestor = Ingestor(KinesisBus(self.stream, client=self.client), RegexRedactor(), None)

    def publish(self, n: int) -> list[str]:
        events = [make_event() for _ in range(n)]
        assert self.ingestor.ingest(events).accepted == n
        return [e["id"] for e in events]

    def put(self, data: bytes, key: str = "poison") -> str:
        """Put one record; its "<shard>:<sequence number>" (what Lambda calls the eventID)."""
        reply = self.client.put_record(StreamName=self.stream, Data=data, PartitionKey=key)
        return f"{reply['ShardId']}:{reply['SequenceNumber']}"

    def dead_letters(self) -> list[dict[str, Any]]:
        try:
            url = self.sqs.get_queue_url(QueueName=self.queue)["QueueUrl"]
        except self.sqs.exceptions.QueueDoesNotExist:
            return []
        out: list[dict[str, Any]] = []
        while True:
            got = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            if not got.get("Messages"):
                return out
            for m in got["Messages"]:
                out.append(json.loads(m["Body"]))
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])

    def poller(self, handler: Any, checkpoints: Path, **kwargs: Any) -> KinesisPoller:
        options: dict[str, Any] = {"batch_window_s": 0, "idle_poll_s": 0.02, "retry_backoff_s": 0.01, **kwargs}
        return KinesisPoller(
            KinesisStreamReader(self.stream, client=self.client),
            handler,
            SqsDeadLetters(self.queue, client=self.sqs),
            checkpoints,
            **options,
        )


class Recorder:
    """The real writer handler, with every invocation's event and response kept for the asserts."""

    def __init__(self, writer: RecordWriter) -> None:
        self.writer = writer
        self.calls: list[tuple[dict[str, Any], Any]] = []

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        try:
            response: Any = handle(event, self.writer, context)
        except Exception as exc:
            self.calls.append((event, exc))
            raise
        self.calls.append((event, response))
        return response

    def invoked(self) -> list[str]:
        """Every record invoked, as its eventID ("<shard>:<sequence number>"; moto numbers each shard from 1)."""
        return [r["eventID"] for event, _ in self.calls for r in event["Records"]]


@pytest.fixture
def store(clean_database: str) -> Iterator[PostgresLogStore]:
    store = PostgresLogStore(clean_database)
    yield store
    store.close()


def rows(database_url: str) -> tuple[int, int]:
    with psycopg.connect(database_url) as conn:
        found = conn.execute("SELECT count(*), count(DISTINCT id) FROM inference_logs").fetchone()
    assert found is not None
    return int(found[0]), int(found[1])


def test_poison_records_are_isolated_dead_lettered_and_the_rest_stored_once(
    clean_database: str, store: PostgresLogStore, aws_endpoint: str, tmp_path: Path
) -> None:
    k = Kinesis(aws_endpoint, shards=2)
    k.publish(20)
    poison = {
        k.put(b"\x00poison"): "not JSON",
        k.put(encode_record(make_event(schema_version="abc"), datetime.now(UTC), {}, None)): "schema_version",
    }
    k.publish(20)
    recorder = Recorder(RecordWriter(store))
    poller = k.poller(recorder, tmp_path, max_retries=2)
    poller.run_until_idle(timeout=60)

    assert rows(clean_database) == (40, 40)
    dead = k.dead_letters()
    described = {f"{d['KinesisBatchInfo']['shardId']}:{d['KinesisBatchInfo']['startSequenceNumber']}": d for d in dead}
    assert len(dead) == 2 and set(described) == set(poison)
    for event_id, d in described.items():  # one description per poison record, isolated, after 1 + 2 retries
        info = d["KinesisBatchInfo"]
        assert info["endSequenceNumber"] == info["startSequenceNumber"] and info["batchSize"] == 1
        assert info["streamArn"] == k.arn and d["requestContext"]["condition"] == "RetryAttemptsExhausted"
        assert d["requestContext"]["approximateInvokeCount"] >= 3
        assert poison[event_id] in d["prism"]["records"][0]["reason"]

    # Every invocation is one shard's records, in order, shaped like Lambda's Kinesis event
    for event, _ in recorder.calls:
        shards = {r["eventID"].split(":")[0] for r in event["Records"]}
        seqs = [int(r["kinesis"]["sequenceNumber"]) for r in event["Records"]]
        assert len(shards) == 1 and seqs == sorted(seqs)
        for r in event["Records"]:
            assert r["eventSource"] == "aws:kinesis" and r["eventSourceARN"] == k.arn
            assert r["eventName"] == "aws:kinesis:record" and r["kinesis"]["kinesisSchemaVersion"] == "1.0"
            assert r["eventID"].endswith(":" + r["kinesis"]["sequenceNumber"]) and r["awsRegion"] == "us-east-1"
            base64.b64decode(r["kinesis"]["data"], validate=True)
    # The first failure is checkpointed before: the next invocation on that shard starts at it
    first_poison = min(poison, key=lambda event_id: int(event_id.split(":")[1]))  # both are on one shard
    first = next(i for i, (e, _) in enumerate(recorder.calls) if first_poison in {r["eventID"] for r in e["Records"]})
    shard = first_poison.split(":")[0]
    later = next(e for e, _ in recorder.calls[first + 1 :] if e["Records"][0]["eventID"].startswith(shard + ":"))
    assert later["Records"][0]["eventID"] == first_poison

    # The checkpoints are at each shard's last record
    saved = json.loads((tmp_path / f"{k.stream}.json").read_text())["shards"]
    last: dict[str, int] = {}
    for event_id in recorder.invoked():
        shard_id, seq = event_id.split(":")
        last[shard_id] = max(last.get(shard_id, 0), int(seq))
    assert {shard_id: int(entry["sequenceNumber"]) for shard_id, entry in saved.items()} == last


def test_a_restarted_poller_resumes_from_its_checkpoints(
    clean_database: str, store: PostgresLogStore, aws_endpoint: str, tmp_path: Path
) -> None:
    k = Kinesis(aws_endpoint, shards=2)
    k.publish(25)
    k.put(b"{not json")
    first = Recorder(RecordWriter(store))
    k.poller(first, tmp_path, max_retries=1).run_until_idle(timeout=60)
    assert rows(clean_database) == (25, 25) and len(k.dead_letters()) == 1

    # WHEN more arrive and a new poller starts on the same checkpoints
    k.publish(15)
    seen = set(first.invoked())
    fresh = {
        f"{shard['ShardId']}:{r['SequenceNumber']}"
        for shard in k.client.list_shards(StreamName=k.stream)["Shards"]
        for r in read_shard(k, shard["ShardId"])
    } - seen
    second = Recorder(RecordWriter(store))
    k.poller(second, tmp_path, max_retries=1).run_until_idle(timeout=60)
    # THEN it invokes exactly the new records, each once
    assert len(fresh) == 15 and sorted(second.invoked()) == sorted(fresh)
    assert rows(clean_database) == (40, 40) and k.dead_letters() == []


def read_shard(k: Kinesis, shard_id: str) -> list[dict[str, Any]]:
    iterator = k.client.get_shard_iterator(StreamName=k.stream, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON")
    return list(k.client.get_records(ShardIterator=iterator["ShardIterator"], Limit=10_000)["Records"])


def test_records_older_than_the_maximum_age_go_to_the_dead_letters_uninvoked(
    clean_database: str, store: PostgresLogStore, aws_endpoint: str, tmp_path: Path
) -> None:
    k = Kinesis(aws_endpoint, shards=1)
    k.publish(5)
    recorder = Recorder(RecordWriter(store))
    later = time.time() + 7200  # an injected clock two hours ahead: every record is older than 1 h
    k.poller(recorder, tmp_path, max_record_age_s=3600, wall_clock=lambda: later).run_until_idle(timeout=30)
    assert recorder.calls == [] and rows(clean_database) == (0, 0)
    (dead,) = k.dead_letters()
    assert dead["requestContext"]["condition"] == "RecordAgeExceeded" and dead["KinesisBatchInfo"]["batchSize"] == 5


def test_a_failing_function_is_retried_until_the_database_is_back(aws_endpoint: str, tmp_path: Path) -> None:
    url = _db_url(f"prism_kdown_{uuid.uuid4().hex[:8]}")
    k = Kinesis(aws_endpoint, shards=1)
    k.publish(8)
    store = PostgresLogStore(url)  # the database does not exist yet: every invocation raises
    recorder = Recorder(RecordWriter(store))
    poller = k.poller(recorder, tmp_path, max_retries=-1, max_backoff_s=0.05)
    poller.start()
    try:
        deadline = time.monotonic() + 30
        while sum(isinstance(r, Exception) for _, r in recorder.calls) < 6:
            assert time.monotonic() < deadline, recorder.calls
            if not poller.step():
                time.sleep(0.01)
        migrate(url, profile=TEST_PROFILE)
        poller.run_until_idle(timeout=60)
        assert rows(url) == (8, 8) and k.dead_letters() == []
    finally:
        store.close()
        drop_database(url)


def run_module(module: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    out = log.open("ab")
    return subprocess.Popen([sys.executable, "-m", module], env=env, stdout=out, stderr=out, cwd=ROOT / "functions")


def test_the_poller_runs_as_a_process_stops_on_sigterm_and_resumes(
    clean_database: str, aws_endpoint: str, tmp_path: Path
) -> None:
    k = Kinesis(aws_endpoint, shards=1)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "functions"),
        "PRISM_BUS": "kinesis",
        "PRISM_KINESIS_STREAM": k.stream,
        "PRISM_DATABASE_URL": clean_database,
        "PRISM_WRITER_DLQ": k.queue,
        "PRISM_KINESIS_CHECKPOINT_DIR": str(tmp_path / "checkpoints"),
        "PRISM_KINESIS_BATCH_WINDOW_S": "0",
        "AWS_ENDPOINT_URL": aws_endpoint,
    }
    log = tmp_path / "poller.log"
    for n, total in ((5, 5), (3, 8)):
        k.publish(n)
        proc = run_module("writer.kinesis_poller", env, log)
        try:
            deadline = time.monotonic() + 60
            while rows(clean_database)[0] < total:
                assert time.monotonic() < deadline and proc.poll() is None, log.read_text()
                time.sleep(0.1)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=20) == 0, log.read_text()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    text = log.read_text()
    assert text.count("poller stopped") == 2 and "resumes after" in text
    assert rows(clean_database) == (8, 8)


@pytest.mark.parametrize(
    ("module", "bus", "hint"),
    [("writer.consumer", "kinesis", "writer.kinesis_poller"), ("writer.kinesis_poller", "redis", "writer.consumer")],
)
def test_each_entry_point_refuses_a_bus_it_cannot_read(module: str, bus: str, hint: str, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "functions"), "PRISM_BUS": bus}
    done = subprocess.run([sys.executable, "-m", module], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert f"PRISM_BUS={bus}" in done.stderr and hint in done.stderr


def test_compose_runs_the_poller_in_its_kinesis_profile_with_persistent_checkpoints() -> None:
    import yaml

    services = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]
    poller = services["kinesis-poller"]
    assert poller["profiles"] == ["kinesis"] and poller["command"] == ["python", "-m", "writer.kinesis_poller"]
    folder = poller["environment"]["PRISM_KINESIS_CHECKPOINT_DIR"]
    assert any(v.endswith(":" + folder) and not v.startswith((".", "/")) for v in poller["volumes"])  # a named volume
    assert "--maxmemory-policy noeviction" in " ".join(services["redis"]["command"])
