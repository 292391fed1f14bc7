"""End to end through real processes: ingestion API → Redis Streams → writer → PostgreSQL, with
raw payloads in S3 (moto). GIVEN a running stack WHEN events are posted THEN rows land once."""

from __future__ import annotations

import gzip
import signal
import time
import uuid

import boto3
import httpx
import psycopg
import pytest
import redis
from prism.adapters.postgres import drop_database, migrate

from tests.conftest import _db_url
from tests.integration.pipeline.conftest import make_event
from tests.support.profile import TEST_PROFILE
from tests.support.stack import Stack

SECRETS = ("jane.doe@example.com", "415-555-0199", "123-45-6789", "4111 1111 1111 1111", "sk-proj-", "10.0.0.12")


def post(stack: Stack, events: list[dict[str, object]]) -> httpx.Response:
    return httpx.post(stack.ingest_url + "/v1/events", headers=stack.headers, json={"events": events}, timeout=30)


@pytest.mark.clock
def test_pii_batch_lands_redacted_and_raw_payload_in_s3_is_redacted(
    clean_database: str, redis_url: str, stream_name: str, aws_endpoint: str, s3_bucket: str
) -> None:
    events = [make_event() for _ in range(20)]
    env = {"PRISM_KEEP_RAW": "true", "PRISM_RAW_BUCKET": s3_bucket}
    with Stack(clean_database, redis_url, stream_name, aws_endpoint, env=env) as stack:
        response = post(stack, events)
        assert response.status_code == 202, response.text
        assert response.json() == {"accepted": 20}
        stack.wait_for_rows(20)

    with psycopg.connect(clean_database) as conn:
        rows = conn.execute(
            "SELECT raw_payload_uri, raw_payload_jsonb, redactions, metadata::text, "
            "(SELECT count(*) FROM tool_invocations t WHERE t.inference_id = l.id), "
            "(SELECT arguments::text FROM tool_invocations t WHERE t.inference_id = l.id) "
            "FROM inference_logs l"
        ).fetchall()
        metrics = conn.execute("SELECT sum(requests), sum(prompt_tokens) FROM metrics_minute").fetchone()
    assert len(rows) == 20
    assert metrics == (20, 20 * 42)
    s3 = boto3.client("s3", endpoint_url=aws_endpoint)
    for uri, inline, redactions, metadata, tools, arguments in rows:
        assert uri.startswith(f"s3://{s3_bucket}/raw/") and inline is None
        assert redactions["EMAIL"] == 4 and redactions["SECRET"] == 1 and redactions["CREDIT_CARD"] == 1
        assert tools == 1 and "[EMAIL]" in arguments and "[EMAIL]" in metadata
        body = s3.get_object(Bucket=s3_bucket, Key=uri.split("/", 3)[3])["Body"].read().decode()
        assert "[EMAIL]" in body and "[US_SSN]" in body
        for secret in SECRETS:
            assert secret not in body and secret not in metadata and secret not in arguments


@pytest.mark.clock
def test_resent_batch_adds_no_rows(clean_database: str, redis_url: str, stream_name: str, aws_endpoint: str) -> None:
    events = [make_event() for _ in range(50)]
    with Stack(clean_database, redis_url, stream_name, aws_endpoint) as stack:
        assert post(stack, events).status_code == 202
        stack.wait_for_rows(50)
        # The client retries (timeout, spool replay): same ids, a new created_at at ingestion.
        assert post(stack, events).status_code == 202
        assert post(stack, [*events[:10], make_event()]).status_code == 202
        stack.wait_for_rows(51)
        time.sleep(1.0)
        assert stack.count_rows() == 51
    with psycopg.connect(clean_database) as conn:
        assert conn.execute("SELECT sum(requests) FROM metrics_minute").fetchone() == (51,)


def test_writer_killed_between_read_and_ack_loses_nothing(
    clean_database: str, redis_url: str, stream_name: str, aws_endpoint: str
) -> None:
    events = [make_event() for _ in range(200)]
    with Stack(clean_database, redis_url, stream_name, aws_endpoint, writer=False) as stack:
        # GIVEN the database blocks the writer's insert, so it has read the batch but not acked it
        with psycopg.connect(clean_database) as locker:
            locker.execute("LOCK TABLE inference_logs IN ACCESS EXCLUSIVE MODE")
            assert post(stack, events).status_code == 202
            stack.start_writer("writer-1", consumer="doomed")
            client = redis.Redis.from_url(redis_url)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                try:
                    pending = client.xpending(stream_name, "cg-writer")["pending"]
                except redis.ResponseError:  # group not created yet
                    pending = 0
                if pending == 1:  # the one entry holding the 200 events of the POST
                    break
                time.sleep(0.05)
            assert pending == 1, stack.logs("writer-1")
            # WHEN the writer dies with SIGKILL mid-batch
            stack.procs["writer-1"].send_signal(signal.SIGKILL)
            stack.procs["writer-1"].wait()
            locker.rollback()
        assert stack.count_rows() == 0
        # THEN another consumer reclaims the pending entries and writes each exactly once
        stack.start_writer("writer-2", consumer="survivor")
        stack.wait_for_rows(200, timeout=60)
        time.sleep(1.5)
        assert stack.count_rows() == 200
        assert client.xpending(stream_name, "cg-writer")["pending"] == 0
        client.close()


def test_poison_entry_goes_to_dead_letters_with_reason(
    clean_database: str, redis_url: str, stream_name: str, aws_endpoint: str
) -> None:
    client = redis.Redis.from_url(redis_url)
    env = {"PRISM_WRITER_MAX_DELIVERIES": "2", "PRISM_WRITER_CLAIM_IDLE_MS": "300"}
    with Stack(clean_database, redis_url, stream_name, aws_endpoint, env=env) as stack:
        client.xadd(stream_name, {b"d": b"{not json"})
        assert post(stack, [make_event()]).status_code == 202
        stack.wait_for_rows(1)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and client.xlen(f"{stream_name}:dead") == 0:
            time.sleep(0.1)
        dead = client.xrange(f"{stream_name}:dead")
        ready = httpx.get(stack.ingest_url + "/readyz").json()
        figures = ready.get("pipeline") or ready["error"]["pipeline"]
    assert figures["dead_letters"] == 1 and figures["pending"] == 0 and figures["lag"] == 0
    assert len(dead) == 1
    fields = dead[0][1]
    assert fields[b"d"] == b"{not json" and b"not JSON" in fields[b"reason"] and fields[b"deliveries"] == b"2"
    assert client.xpending(stream_name, "cg-writer")["pending"] == 0
    client.close()


def test_poison_record_inside_a_batch_entry_is_dead_lettered_alone(
    clean_database: str, redis_url: str, stream_name: str, aws_endpoint: str
) -> None:
    from datetime import UTC, datetime

    from prism.records import encode_record

    good = [encode_record(make_event(), datetime.now(UTC), {}, None) for _ in range(3)]
    client = redis.Redis.from_url(redis_url)
    env = {"PRISM_WRITER_MAX_DELIVERIES": "2", "PRISM_WRITER_CLAIM_IDLE_MS": "300"}
    with Stack(clean_database, redis_url, stream_name, aws_endpoint, env=env) as stack:
        client.xadd(stream_name, {b"b": b"\n".join([good[0], b'{"v": 1}', good[1], good[2]])})
        stack.wait_for_rows(3)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and client.xlen(f"{stream_name}:dead") == 0:
            time.sleep(0.1)
        time.sleep(0.5)
        dead = client.xrange(f"{stream_name}:dead")
        assert stack.count_rows() == 3
    assert len(dead) == 1 and dead[0][1][b"d"] == b'{"v": 1}' and dead[0][1][b"id"].endswith(b"#1")
    assert client.xpending(stream_name, "cg-writer")["pending"] == 0
    client.close()


def test_database_down_then_back_loses_nothing(redis_url: str, stream_name: str, aws_endpoint: str) -> None:
    # GIVEN the writer's database does not exist yet (PostgreSQL "down" for this writer)
    url = _db_url(f"prism_down_{uuid.uuid4().hex[:8]}")
    try:
        with Stack(url, redis_url, stream_name, aws_endpoint) as stack:
            assert post(stack, [make_event() for _ in range(30)]).status_code == 202
            deadline = time.monotonic() + 60
            while "retrying" not in stack.logs("writer") and time.monotonic() < deadline:
                time.sleep(0.1)
            assert "store unavailable, retrying" in stack.logs("writer")
            assert stack.procs["writer"].poll() is None, stack.logs("writer")
            # WHEN it comes back
            migrate(url, profile=TEST_PROFILE)
            # THEN the writer catches up with nothing lost
            stack.wait_for_rows(30, timeout=60)
    finally:
        drop_database(url)


def test_gzip_body_is_accepted(clean_database: str, redis_url: str, stream_name: str, aws_endpoint: str) -> None:
    import orjson

    body = gzip.compress(orjson.dumps({"events": [make_event() for _ in range(5)]}))
    with Stack(clean_database, redis_url, stream_name, aws_endpoint) as stack:
        response = httpx.post(
            stack.ingest_url + "/v1/events",
            content=body,
            headers={**stack.headers, "Content-Type": "application/json", "Content-Encoding": "gzip"},
        )
        assert response.status_code == 202, response.text
        stack.wait_for_rows(5)


def test_event_too_big_for_the_bus_travels_through_s3(
    clean_database: str, redis_url: str, stream_name: str, aws_endpoint: str, s3_bucket: str
) -> None:
    big = make_event(metadata={"blob": "lorem ipsum " * 2000, "contact": "jane.doe@example.com"})
    env = {"PRISM_BUS_MAX_PAYLOAD_BYTES": "8192", "PRISM_RAW_BUCKET": s3_bucket}
    client = redis.Redis.from_url(redis_url)
    with Stack(clean_database, redis_url, stream_name, aws_endpoint, env=env, writer=False) as stack:
        assert post(stack, [big, make_event()]).status_code == 202
        entry = client.xrange(stream_name)[-1][1][b"b"]  # read before the writer acknowledges and trims it
        stack.start_writer()
        stack.wait_for_rows(2)
    assert len(entry) < 8192 * 2  # the big event's body is not on the bus
    with psycopg.connect(clean_database) as conn:
        uri, inline, prompt_tokens, metadata = conn.execute(
            "SELECT raw_payload_uri, raw_payload_jsonb, prompt_tokens, metadata FROM inference_logs WHERE id = %s",
            (big["id"],),
        ).fetchone()  # type: ignore[misc]
    assert uri.startswith(f"s3://{s3_bucket}/") and inline is None and prompt_tokens == 42
    assert metadata["contact"] == "[EMAIL]"
    body = boto3.client("s3", endpoint_url=aws_endpoint).get_object(Bucket=s3_bucket, Key=uri.split("/", 3)[3])
    assert b"jane.doe@example.com" not in body["Body"].read()
    client.close()


def test_readers_get_the_payload_from_s3_or_inline_alike(
    clean_database: str, redis_url: str, stream_name: str, aws_endpoint: str, s3_bucket: str
) -> None:
    from prism.adapters.s3 import S3RawPayloadStore, s3_client
    from prism.payloads import load_payload

    kept, inline = make_event(), make_event()
    store = S3RawPayloadStore(s3_bucket, client=s3_client(aws_endpoint))
    with Stack(clean_database, redis_url, stream_name, aws_endpoint, env={"PRISM_RAW_BUCKET": s3_bucket}) as stack:
        assert post(stack, [inline]).status_code == 202
        stack.wait_for_rows(1)
    env = {"PRISM_RAW_BUCKET": s3_bucket, "PRISM_KEEP_RAW": "true"}
    with Stack(clean_database, redis_url, stream_name, aws_endpoint, env=env) as stack:
        assert post(stack, [kept]).status_code == 202
        stack.wait_for_rows(2)
    with psycopg.connect(clean_database) as conn:
        rows = dict(
            (str(r[0]), (r[1], r[2]))
            for r in conn.execute("SELECT id, raw_payload_uri, raw_payload_jsonb FROM inference_logs")
        )
    from_s3 = load_payload(*rows[kept["id"]], store)
    from_row = load_payload(*rows[inline["id"]], store)
    assert rows[kept["id"]][0] and rows[inline["id"]][0] is None
    assert from_s3 == from_row  # same content, redacted the same way, wherever it was kept
    assert from_s3 is not None and from_s3["response"]["content"].startswith("Noted, I will email [EMAIL]")
