"""Structured logs (prism.logs): JSON lines carrying the request id, from the HTTP edge and from a
Lambda invocation."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from mangum import Mangum
from prism import logs
from prism.http import install_edge

pytestmark = pytest.mark.unit

log = logging.getLogger("tests.unit.test_logs")


@pytest.fixture
def lines(request: pytest.FixtureRequest) -> Iterator[io.StringIO]:
    """``setup_logging`` for one test (a service of its own: Powertools configures a logger name
    once per process), its output captured; the root logger restored after."""
    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    logs.setup_logging(f"prism-test-{request.node.name}")
    ours = next(h for h in root.handlers if h not in before)
    out = io.StringIO()
    assert isinstance(ours, logging.StreamHandler)
    ours.setStream(out)
    yield out
    root.handlers = before
    root.setLevel(level)


def records(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]


def app() -> FastAPI:
    api = FastAPI()
    install_edge(api, hosts=["testserver"], origins=[], max_body_bytes=1000, body_timeout_s=5)

    @api.get("/hello")
    def hello() -> dict[str, str]:
        log.info("saying hello", extra={"who": "world"})
        return {"hello": "world"}

    @api.get("/boom")
    def boom() -> None:
        raise RuntimeError("kaput")

    return api


def test_every_line_is_json_with_the_request_id_and_the_module_logger(lines: io.StringIO) -> None:
    with TestClient(app()) as client:
        res = client.get("/hello", headers={"X-Request-Id": "req-123"})
    assert res.headers["x-request-id"] == "req-123"
    (line,) = [r for r in records(lines) if r["message"] == "saying hello"]
    assert line["request_id"] == "req-123"
    assert line["name"] == "tests.unit.test_logs"
    assert str(line["service"]).startswith("prism-test-")
    assert line["level"] == "INFO"
    assert line["who"] == "world"


def test_an_implausible_request_id_is_replaced(lines: io.StringIO) -> None:
    with TestClient(app()) as client:
        res = client.get("/hello", headers={"X-Request-Id": "not an id\x7f" * 20})
    rid = res.headers["x-request-id"]
    assert len(rid) == 32 and rid.isalnum()
    assert [r["request_id"] for r in records(lines) if r["message"] == "saying hello"] == [rid]


def test_without_a_request_id_each_request_gets_its_own(lines: io.StringIO) -> None:
    with TestClient(app()) as client:
        first, second = client.get("/hello"), client.get("/hello")
    assert first.headers["x-request-id"] != second.headers["x-request-id"]
    tagged = {r["request_id"] for r in records(lines) if r["message"] == "saying hello"}
    assert tagged == {first.headers["x-request-id"], second.headers["x-request-id"]}


def test_a_500_names_the_request_id_that_finds_its_traceback(lines: io.StringIO) -> None:
    with TestClient(app(), raise_server_exceptions=False) as client:
        res = client.get("/boom")
    assert res.status_code == 500
    rid = res.headers["x-request-id"]
    assert res.json() == {"error": {"code": "internal_error", "message": "internal error", "request_id": rid}}
    (line,) = [r for r in records(lines) if r["message"] == "unhandled error"]
    assert line["request_id"] == rid and "kaput" in str(line["exception"])


def lambda_context() -> SimpleNamespace:
    return SimpleNamespace(
        function_name="prism-query",
        function_version="$LATEST",
        memory_limit_in_mb=512,
        invoked_function_arn="arn:aws:lambda:eu-west-1:123456789012:function:prism-query",
        aws_request_id="c0ffee00-0000-4000-8000-000000000001",
        get_remaining_time_in_millis=lambda: 30_000,
    )


def test_a_lambda_invocation_tags_every_line_and_answers_with_its_id(
    lines: io.StringIO, request: pytest.FixtureRequest
) -> None:
    logger = logs.setup_logging(f"prism-test-{request.node.name}")  # the one the fixture made
    handler = logger.inject_lambda_context(Mangum(app(), lifespan="off"), clear_state=True)
    event = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/hello",
        "rawQueryString": "",
        "headers": {"host": "testserver"},
        "requestContext": {
            "http": {"method": "GET", "path": "/hello", "protocol": "HTTP/1.1", "sourceIp": "203.0.113.9"},
            "domainName": "testserver",
            "requestId": "api-1",
        },
        "isBase64Encoded": False,
    }
    res = handler(event, lambda_context())
    assert res["statusCode"] == 200
    assert res["headers"]["x-request-id"] == "c0ffee00-0000-4000-8000-000000000001"
    (line,) = [r for r in records(lines) if r["message"] == "saying hello"]
    assert line["function_request_id"] == "c0ffee00-0000-4000-8000-000000000001"
    assert line["request_id"] == "c0ffee00-0000-4000-8000-000000000001"
    assert line["function_name"] == "prism-query"
