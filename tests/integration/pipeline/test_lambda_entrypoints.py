"""The functions as AWS Lambda runs them: the ingestion handler (Mangum) gets an API Gateway HTTP
API event; the writer stops cleanly on SIGTERM when run as the Redis Streams consumer."""

from __future__ import annotations

import base64
import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import redis

from tests.conftest import _db_url
from tests.integration.pipeline.conftest import make_event
from tests.support.lambda_context import LambdaContext
from tests.support.profile import timescale_missing
from tests.support.stack import Stack

EVENTS = Path(__file__).resolve().parents[2] / "events"


def test_ingestion_handler_serves_an_http_api_event(redis_url: str, stream_name: str) -> None:
    body = base64.b64encode(gzip.compress(orjson.dumps({"events": [make_event(), make_event()]}))).decode()
    event = (
        (EVENTS / "lambda" / "apigw_http_post_events.json")
        .read_text()
        .replace("@KEY@", "lambda-key")
        .replace("@BODY@", body)
    )
    bad = json.loads(event)
    bad["headers"]["authorization"] = "Bearer nope"
    code = (
        "import json, sys; from ingestion.handler import handler; "
        "from tests.support.lambda_context import LambdaContext; "
        "events = json.load(sys.stdin); print(json.dumps([handler(e, LambdaContext()) for e in events]))"
    )
    env = {**os.environ, "PRISM_API_KEY": "lambda-key", "PRISM_REDIS_URL": redis_url, "PRISM_STREAM": stream_name}
    out = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps([json.loads(event), bad]),
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=60,
    )
    ok, refused = json.loads(out.stdout.strip().splitlines()[-1])
    assert ok["statusCode"] == 202 and json.loads(ok["body"]) == {"accepted": 2}
    assert refused["statusCode"] == 401 and json.loads(refused["body"])["error"]["code"] == "unauthorized"
    entries = redis.Redis.from_url(redis_url).xrange(stream_name)
    assert len(entries) == 1 and entries[0][1][b"b"].count(b"\n") == 1


def test_writer_stops_cleanly_on_sigterm(clean_database: str, redis_url: str, stream_name: str) -> None:
    with Stack(clean_database, redis_url, stream_name) as stack:
        import httpx

        response = httpx.post(
            stack.ingest_url + "/v1/events", headers=stack.headers, json={"events": [make_event() for _ in range(5)]}
        )
        assert response.status_code == 202
        stack.wait_for_rows(5)
        writer = stack.procs["writer"]
        started = time.monotonic()
        writer.send_signal(signal.SIGTERM)
        assert writer.wait(timeout=15) == 0
        assert time.monotonic() - started < 10
        assert "writer stopped" in stack.logs("writer")
        stack.procs.pop("writer")


def test_maintenance_handler_migrates_and_maintains(monkeypatch: object) -> None:
    import uuid

    import psycopg
    from prism.adapters.postgres import drop_database
    from prism.config import get_settings

    url = _db_url(f"prism_maint_{uuid.uuid4().hex[:8]}")
    monkeypatch.setenv("PRISM_DATABASE_URL", url)  # type: ignore[attr-defined]
    get_settings.cache_clear()
    try:
        from writer.handler import maintenance

        result = maintenance({"source": "aws.events"}, LambdaContext())
        assert result["profile"] == ("postgres" if timescale_missing() else "timescale")  # auto
        assert result["partitions_dropped"] == []
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] >= 3  # type: ignore[index]
        assert maintenance({}, LambdaContext())["partitions_created"] == 0  # idempotent
    finally:
        get_settings.cache_clear()
        drop_database(url)
