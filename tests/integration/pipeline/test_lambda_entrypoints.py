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


def test_the_lambda_writer_dead_letters_and_the_maintenance_function_replays(
    clean_database: str, tmp_path: Path, monkeypatch: object
) -> None:
    """The writer's Lambda entry point as configured by settings (PRISM_RAW_STORE=file here; s3
    in AWS): a record whose raw payload is missing and an undecodable one are dead-lettered with
    their data, the good record is written, nothing is reported failed; once the payload is back,
    ``maintenance({"replay": {}})`` writes it once and keeps the undecodable letter."""
    import psycopg
    from prism.adapters.files import FileRawPayloadStore
    from prism.adapters.memory import MemoryBus
    from prism.config import get_settings
    from prism.ingest import Ingestor
    from prism.redact import RegexRedactor
    from writer import handler as writer_handler

    raw_dir = tmp_path / "raw"
    env = {"PRISM_DATABASE_URL": clean_database, "PRISM_RAW_STORE": "file", "PRISM_RAW_DIR": str(raw_dir)}
    for key, value in env.items():
        monkeypatch.setenv(key, value)  # type: ignore[attr-defined]
    monkeypatch.setattr(writer_handler, "_writer", None)  # type: ignore[attr-defined]
    monkeypatch.setattr(writer_handler, "_dead_letters", None)  # type: ignore[attr-defined]
    get_settings.cache_clear()
    try:
        bus = MemoryBus()
        ingestor = Ingestor(bus, RegexRedactor(), FileRawPayloadStore(raw_dir), max_payload_bytes=2048)
        assert ingestor.ingest([make_event(), make_event(metadata={"blob": "x" * 5000})]).accepted == 2
        payloads = [p for p in raw_dir.rglob("*") if p.is_file()]
        assert len(payloads) == 1
        hidden = tmp_path / "hidden"
        payloads[0].rename(hidden)  # the big event's raw payload is missing for now
        datas = [base64.b64encode(d).decode() for _, d in bus.messages] + ["%%% not base64"]
        seqs = [f"4960{i:052d}" for i in range(len(datas))]
        event = {
            "Records": [
                {
                    "eventSource": "aws:kinesis",
                    "eventSourceARN": "arn:aws:kinesis:eu-west-1:123456789012:stream/prism",
                    "eventID": f"shardId-000000000000:{seq}",
                    "eventName": "aws:kinesis:record",
                    "eventVersion": "1.0",
                    "awsRegion": "eu-west-1",
                    "kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": "p", "sequenceNumber": seq,
                                "data": data, "approximateArrivalTimestamp": 1764572400.0},
                }
                for seq, data in zip(seqs, datas, strict=True)
            ]
        }
        assert writer_handler.handler(event, LambdaContext()) == {"batchItemFailures": []}
        letters = {p.stem: json.loads(p.read_text()) for p in (raw_dir / "dead-letters").glob("*/*.json")}
        assert sorted(letters) == sorted(seqs[1:])
        assert letters[seqs[1]]["data"] == datas[1] and "raw payload" in letters[seqs[1]]["reason"]
        assert letters[seqs[2]]["data"] == datas[2]

        def count() -> int:
            with psycopg.connect(clean_database) as conn:
                return int(conn.execute("SELECT count(*) FROM inference_logs").fetchone()[0])  # type: ignore[index]

        assert count() == 1
        hidden.rename(payloads[0])  # fixed
        first = writer_handler.maintenance({"replay": {}}, LambdaContext())["replay"]
        assert (first["replayed"], first["written"], first["unreadable"]) == (1, 1, 1)
        assert count() == 2
        second = writer_handler.maintenance({"replay": {}}, LambdaContext())["replay"]
        assert (second["replayed"], second["written"], second["unreadable"]) == (0, 0, 1)
        assert count() == 2
        assert [p.stem for p in (raw_dir / "dead-letters").glob("*/*.json")] == [seqs[2]]
    finally:
        get_settings.cache_clear()


# ---------------------------------------------------------------- behind CloudFront (issue 12)
# The chat, query and identity handlers get Function URL events (payload 2.0) that CloudFront signed
# with origin access control: tests/support/function_url.py shapes them (SigV4 headers, the IAM
# caller, the Function URL's Host, cookies, x-amz-content-sha256, the viewer's address).

BEHIND_CLOUDFRONT = r"""
import json, sys
from prism import bootstrap
from prism.config import get_settings
bootstrap.migrate_database(get_settings())
from identity.handler import handler as identity  # creates the first admin (PRISM_ADMIN_*)
from query.handler import handler as query
from tests.support.function_url import function_url_event as event
from tests.support.lambda_context import LambdaContext

EMAIL, PASSWORD = sys.argv[1], sys.argv[2]
out = {}

def call(name, handler, *args, **kwargs):
    response = handler(event(*args, **kwargs), LambdaContext())
    out[name] = response
    return response

call("wrong_password", identity, "POST", "/api/auth/login", body={"email": EMAIL, "password": "wrong-" + PASSWORD})
credentials = {"email": EMAIL, "password": PASSWORD}
login = call("login", identity, "POST", "/api/auth/login", body=credentials, base64_body=True)
cookies = [c.split(";", 1)[0] for c in login.get("cookies", [])]
csrf = json.loads(login["body"])["csrf_token"]
call("session", identity, "GET", "/api/auth/session", cookies=cookies)
call("summary", query, "GET", "/api/metrics/summary", cookies=cookies)
call("summary_signed_out", query, "GET", "/api/metrics/summary")
JSON = {"Content-Type": "application/json"}  # the UI sends every state change as JSON
call("logout_without_csrf", identity, "POST", "/api/auth/logout", cookies=cookies, headers=JSON)
call("logout_from_another_site", identity, "POST", "/api/auth/logout", cookies=cookies,
     headers={**JSON, "X-CSRF-Token": csrf, "Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})
call("logout", identity, "POST", "/api/auth/logout", cookies=cookies, headers={**JSON, "X-CSRF-Token": csrf})
call("session_after_logout", identity, "GET", "/api/auth/session", cookies=cookies)
print(json.dumps(out))
"""


def error_code(response: dict[str, object]) -> str:
    body = json.loads(str(response["body"]))
    return str(body["error"]["code"])


def test_identity_and_query_handlers_serve_what_cloudfront_forwards() -> None:
    import uuid

    from prism.adapters.postgres import drop_database

    url = f"postgresql://postgres@127.0.0.1:5432/prism_cf_{uuid.uuid4().hex[:8]}"
    email, password = "admin@example.com", "first-admin-pw-" + uuid.uuid4().hex[:8]
    env = {**os.environ, "PRISM_ENV": "cloud", "PRISM_DATABASE_URL": url, "PRISM_ADMIN_EMAIL": email,
           "PRISM_ADMIN_PASSWORD": password, "PRISM_RAW_STORE": "s3", "PRISM_RAW_BUCKET": "prism-test",
           "AWS_DEFAULT_REGION": "eu-west-1", "PRISM_RATE_LIMIT_LOGIN_FAILURES": ""}
    try:
        proc = subprocess.run(
            [sys.executable, "-c", BEHIND_CLOUDFRONT, email, password],
            capture_output=True, text=True, env=env, timeout=120,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        out = json.loads(proc.stdout.strip().splitlines()[-1])
    finally:
        drop_database(url)

    assert out["wrong_password"]["statusCode"] == 401
    login = out["login"]
    assert login["statusCode"] == 200, login
    (session_cookie,) = [c for c in login["cookies"] if c.startswith("prism_session=")]
    attributes = {a.strip().lower() for a in session_cookie.split(";")[1:]}
    assert {"httponly", "secure", "samesite=lax", "path=/"} <= attributes  # https per x-forwarded-proto
    assert out["session"]["statusCode"] == 200, out["session"]
    assert json.loads(out["session"]["body"])["user"]["email"] == email
    assert out["summary"]["statusCode"] == 200, out["summary"]
    assert "requests" in out["summary"]["body"]
    assert out["summary_signed_out"]["statusCode"] == 401
    assert error_code(out["summary_signed_out"]) == "unauthenticated"
    assert (out["logout_without_csrf"]["statusCode"], error_code(out["logout_without_csrf"])) == (403, "csrf_failed")
    refused = out["logout_from_another_site"]
    assert (refused["statusCode"], error_code(refused)) == (403, "cross_origin")
    assert out["logout"]["statusCode"] == 204
    assert out["session_after_logout"]["statusCode"] == 401

