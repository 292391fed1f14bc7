"""No single record stops the pipeline. GIVEN records whose raw payload cannot be read (a bucket
that does not exist, a URI the store cannot serve) or whose event breaks the row builder, ahead of
300 good events, WHEN the writer runs THEN every good event is stored and each bad record is
dead-lettered with its reason after its retry budget (PRISM_WRITER_MAX_DELIVERIES)."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import httpx
import redis
from prism.records import encode_record

from tests.integration.pipeline.conftest import make_event
from tests.support.stack import Stack


def test_unreadable_raw_payloads_and_broken_events_are_dead_lettered_and_the_rest_flows(
    clean_database: str, redis_url: str, stream_name: str, aws_endpoint: str, s3_bucket: str
) -> None:
    now = datetime.now(UTC)
    poison = {
        "NoSuchBucket": encode_record(None, now, {}, f"s3://prism-missing-{uuid.uuid4().hex[:8]}/raw/x.json"),
        "not an s3:// URI": encode_record(None, now, {}, "file:///etc/hostname"),
        "schema_version": encode_record(make_event(schema_version="abc"), now, {}, None),
    }
    client = redis.Redis.from_url(redis_url)
    env = {"PRISM_WRITER_MAX_DELIVERIES": "2", "PRISM_WRITER_CLAIM_IDLE_MS": "300", "PRISM_RAW_BUCKET": s3_bucket}
    with Stack(clean_database, redis_url, stream_name, aws_endpoint, env=env, writer=False) as stack:
        for data in poison.values():  # ahead of every good event
            client.xadd(stream_name, {b"d": data})
        good = [make_event() for _ in range(300)]
        for start in range(0, 300, 100):
            response = httpx.post(
                stack.ingest_url + "/v1/events", headers=stack.headers, json={"events": good[start : start + 100]}
            )
            assert response.status_code == 202, response.text
        stack.start_writer()
        stack.wait_for_rows(300, timeout=60)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and client.xlen(f"{stream_name}:dead") < len(poison):
            time.sleep(0.1)
        dead = client.xrange(f"{stream_name}:dead")
        assert stack.count_rows() == 300
        assert stack.procs["writer"].poll() is None, stack.logs("writer")
        pending = client.xpending(stream_name, "cg-writer")["pending"]
    reasons = {fields[b"d"]: fields[b"reason"].decode() for _, fields in dead}
    assert len(dead) == len(poison), reasons
    for needle, data in poison.items():
        assert needle in reasons[data], (needle, reasons[data])
    assert all(fields[b"deliveries"] == b"2" for _, fields in dead)
    assert pending == 0
    client.close()
