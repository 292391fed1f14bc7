"""The Lambda entry point: Mangum around the module-level app (request/response routes)."""

from __future__ import annotations

import json
from typing import Any

from tests.support.lambda_context import LambdaContext

CONTEXT = LambdaContext(function_name="chat-api")


def _function_url_event(method: str, path: str, body: str | None = None) -> dict[str, Any]:
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"host": "abc.lambda-url.eu-west-1.on.aws", "content-type": "application/json"},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc",
            "domainName": "abc.lambda-url.eu-west-1.on.aws",
            "domainPrefix": "abc",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "test",
            },
            "requestId": "req-1",
            "routeKey": "$default",
            "stage": "$default",
            "time": "27/Nov/2026:07:00:00 +0000",
            "timeEpoch": 1795763200000,
        },
        "body": body,
        "isBase64Encoded": False,
    }


def test_the_handler_serves_requests_through_mangum_invocation_after_invocation() -> None:
    from chat.handler import handler

    for _ in range(2):  # Mangum runs the lifespan per invocation: clients live at module scope
        resp = handler(_function_url_event("GET", "/healthz"), CONTEXT)
        assert resp["statusCode"] == 200 and json.loads(resp["body"]) == {"status": "ok"}
    # The chat needs a session: the caller is judged before the malformed id (prism.auth).
    resp = handler(_function_url_event("PATCH", "/api/conversations/nope", '{"title": ""}'), CONTEXT)
    assert resp["statusCode"] == 401 and json.loads(resp["body"])["error"]["code"] == "unauthenticated"
