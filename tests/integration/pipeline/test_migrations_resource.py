"""The ``Migrations`` custom resource (writer.migrations_resource) as CloudFormation drives it: the
real event shape, the response PUT to a pre-signed URL (here a local HTTP server that records it),
migrations on a real PostgreSQL database."""

from __future__ import annotations

import http.server
import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from prism.adapters.postgres import drop_database
from prism.config import get_settings

from tests.conftest import _db_url
from tests.support.lambda_context import LambdaContext

STACK_ID = "arn:aws:cloudformation:eu-west-1:123456789012:stack/prism/5b6a1e70-0000-11f0-8000-0a1b2c3d4e5f"


class ResponseSink:
    """Stands in for the pre-signed S3 URL: records each PUT (path, headers, JSON body)."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                length = int(self.headers["Content-Length"])
                sink.received.append(
                    {"path": self.path, "headers": dict(self.headers), "body": json.loads(self.rfile.read(length))}
                )
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def only(self) -> dict[str, Any]:
        assert len(self.received) == 1, self.received
        return self.received[0]


@pytest.fixture
def sink() -> Iterator[ResponseSink]:
    s = ResponseSink()
    yield s
    s.server.shutdown()
    s.server.server_close()


@pytest.fixture
def database(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = _db_url(f"prism_cfn_{uuid.uuid4().hex[:8]}")
    monkeypatch.setenv("PRISM_DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()
    drop_database(url)


def cfn_event(sink: ResponseSink, request_type: str, **extra: Any) -> dict[str, Any]:
    """What CloudFormation sends a Lambda-backed custom resource (AWS::CloudFormation::CustomResource)."""
    request_id = str(uuid.uuid4())
    event: dict[str, Any] = {
        "RequestType": request_type,
        "ServiceToken": "arn:aws:lambda:eu-west-1:123456789012:function:prism-MigrationsFunction-AbC123",
        "ResponseURL": (
            f"{sink.url}/arn%3Aaws%3Acloudformation%3Aeu-west-1%3A123456789012%3Astack/prism/5b6a1e70%7CMigrations"
            f"%7C{request_id}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20260101T000000Z&X-Amz-Expires=7199"
            "&X-Amz-SignedHeaders=host&X-Amz-Signature=0123abcd"
        ),
        "StackId": STACK_ID,
        "RequestId": request_id,
        "LogicalResourceId": "Migrations",
        "ResourceType": "Custom::Migrations",
        "ResourceProperties": {
            "ServiceToken": "arn:aws:lambda:eu-west-1:123456789012:function:prism-MigrationsFunction-AbC123",
            "CodeVersion": "7",
            "SecretsRevision": "1",
        },
    }
    if request_type != "Create":
        event["PhysicalResourceId"] = "Migrations"
    if request_type == "Update":
        event["OldResourceProperties"] = {**event["ResourceProperties"], "CodeVersion": "6"}
    event.update(extra)
    return event


def migrations_applied(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM schema_migrations").fetchone()
        assert row is not None
        return int(row[0])


def test_create_applies_the_migrations_and_answers_success(sink: ResponseSink, database: str) -> None:
    from writer.migrations_resource import handler

    event = cfn_event(sink, "Create")
    assert handler(event, LambdaContext()) == {"Status": "SUCCESS"}
    put = sink.only()
    body = put["body"]
    assert body["Status"] == "SUCCESS" and body["Data"] == {"Profile": "postgres"}
    assert (body["StackId"], body["RequestId"], body["LogicalResourceId"]) == (
        STACK_ID, event["RequestId"], "Migrations"
    )
    assert body["PhysicalResourceId"] == "Migrations"  # stable: an update is never a replacement
    assert put["path"].startswith("/arn%3Aaws%3Acloudformation") and "X-Amz-Signature=0123abcd" in put["path"]
    assert put["headers"].get("Content-Type", "") == ""  # the URL is signed without one
    assert migrations_applied(database) >= 6


def test_update_is_idempotent_and_keeps_the_physical_id(sink: ResponseSink, database: str) -> None:
    from writer.migrations_resource import handler

    handler(cfn_event(sink, "Create"), LambdaContext())
    applied = migrations_applied(database)
    handler(cfn_event(sink, "Update", PhysicalResourceId="Migrations"), LambdaContext())
    assert [r["body"]["Status"] for r in sink.received] == ["SUCCESS", "SUCCESS"]
    assert sink.received[1]["body"]["PhysicalResourceId"] == "Migrations"
    assert migrations_applied(database) == applied


def test_a_failing_migration_fails_the_deploy_without_the_password(
    sink: ResponseSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    from writer.migrations_resource import handler

    # Nothing listens on port 1: the database is down.
    monkeypatch.setenv("PRISM_DATABASE_URL", "postgresql://prism:s3cr3t-pw@127.0.0.1:1/prism?connect_timeout=2")
    get_settings.cache_clear()
    try:
        assert handler(cfn_event(sink, "Create"), LambdaContext()) == {"Status": "FAILED"}
    finally:
        get_settings.cache_clear()
    body = sink.only()["body"]
    assert body["Status"] == "FAILED"
    assert body["Reason"].startswith("migrations failed: ") and len(body["Reason"]) <= 1000
    assert "s3cr3t-pw" not in json.dumps(body)


def test_delete_is_a_no_op_success(sink: ResponseSink, monkeypatch: pytest.MonkeyPatch) -> None:
    from writer.migrations_resource import handler

    monkeypatch.setenv("PRISM_DATABASE_URL", "postgresql://prism@127.0.0.1:1/prism?connect_timeout=2")
    get_settings.cache_clear()
    try:
        assert handler(cfn_event(sink, "Delete"), LambdaContext()) == {"Status": "SUCCESS"}
    finally:
        get_settings.cache_clear()
    assert sink.only()["body"]["Status"] == "SUCCESS"  # never touched the (unreachable) database


def test_migrations_running_into_the_timeout_answer_failed_in_time(sink: ResponseSink) -> None:
    from writer.migrations_resource import SAFETY_MS, handle

    release = threading.Event()

    def stuck() -> dict[str, str]:
        release.wait(30)
        return {"Profile": "postgres"}

    started = time.monotonic()
    try:
        status = handle(cfn_event(sink, "Create"), LambdaContext(remaining_ms=SAFETY_MS + 1000), run=stuck)
    finally:
        release.set()
    assert status == "FAILED" and time.monotonic() - started < 10
    assert "did not finish" in sink.only()["body"]["Reason"]


def test_an_unknown_request_type_is_answered(sink: ResponseSink) -> None:
    from writer.migrations_resource import handle

    assert handle(cfn_event(sink, "Replace"), LambdaContext(), run=lambda: {}) == "FAILED"
    assert "Replace" in sink.only()["body"]["Reason"]
