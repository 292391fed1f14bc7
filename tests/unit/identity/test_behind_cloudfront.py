"""Behind CloudFront (no network): the viewer's address from the header PRISM_VIEWER_ADDRESS_HEADER
names (CloudFront-Viewer-Address, ``ip:port``, IPv6 unbracketed), and which token schemes each API's
OpenAPI document declares (the chat takes sessions only)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from prism.http import caller_address, install_edge, viewer_address

from scripts import openapi

EDGE = ("130.176.0.1", 443)  # the connection: CloudFront's edge


@pytest.mark.parametrize(
    ("value", "address"),
    [
        ("203.0.113.7:51234", "203.0.113.7"),
        (" 203.0.113.7:0 ", "203.0.113.7"),
        ("2001:db8::1:443", "2001:db8::1"),  # CloudFront's form: the last colon separates the port
        ("2001:0db8:0000::0001:443", "2001:db8::1"),  # one viewer, one spelling
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("::ffff:203.0.113.7:80", "::ffff:cb00:7107"),
    ],
)
def test_the_address_of_an_address_and_port(value: str, address: str) -> None:
    assert viewer_address(value) == address


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "203.0.113.7",  # no port
        "203.0.113.7:",
        "203.0.113.7:65536",
        "203.0.113.7:-1",
        "203.0.113.7:\uff18\uff10",  # non-ASCII digits (str.isdigit says yes)
        "203.0.113.256:80",
        "example.com:443",
        "unknown",
        "203.0.113.7:1, 198.51.100.1:2",  # two values
        "[2001:db8::1:443",
        "2001:db8::1",  # a bare IPv6 reads as 2001:db8:: port 1: not an address either way
    ],
)
def test_anything_else_is_no_address(value: str | None) -> None:
    assert viewer_address(value) is None


def _app(header: str) -> FastAPI:
    app = FastAPI()
    install_edge(app, hosts=["*"], origins=[], max_body_bytes=1024, body_timeout_s=5, viewer_address_header=header)

    @app.get("/who")
    async def who(request: Request) -> dict[str, str]:
        return {"address": caller_address(request)}

    return app


def _who(app: FastAPI, headers: dict[str, str]) -> str:
    with TestClient(app, client=EDGE) as client:
        r = client.get("/who", headers=headers)
    assert r.status_code == 200, r.text
    return str(r.json()["address"])


def test_caller_address_reads_the_configured_header_only() -> None:
    behind = _app("CloudFront-Viewer-Address")
    assert _who(behind, {"CloudFront-Viewer-Address": "203.0.113.7:51234"}) == "203.0.113.7"
    assert _who(behind, {"cloudfront-viewer-address": "2001:db8::1:443"}) == "2001:db8::1"
    assert _who(behind, {}) == EDGE[0]  # no header: the connection's
    for malformed in ("garbage", "203.0.113.7", "1.2.3.4:99999", ""):
        assert _who(behind, {"CloudFront-Viewer-Address": malformed}) == EDGE[0], malformed
    # Without the setting, a caller's header is its own word: not read.
    assert _who(_app(""), {"CloudFront-Viewer-Address": "203.0.113.7:51234"}) == EDGE[0]
    assert _who(_app("X-Real-Viewer"), {"CloudFront-Viewer-Address": "203.0.113.7:51234"}) == EDGE[0]


# --- the token schemes in the OpenAPI documents -----------------------------------------------------


def _schemes(api: str) -> tuple[dict[str, Any], set[str]]:
    doc = openapi.APIS[api]().openapi()
    operations = [op for item in doc["paths"].values() for op in item.values()]
    used = {name for op in operations for requirement in op.get("security", []) for name in requirement}
    return doc.get("components", {}).get("securitySchemes", {}), used


@pytest.mark.parametrize("api", ["query", "identity"])
def test_the_apis_that_take_read_tokens_declare_the_header(api: str) -> None:
    schemes, used = _schemes(api)
    assert schemes["readTokenHeader"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-Prism-Token",
        "description": schemes["readTokenHeader"]["description"],
    }
    assert "CloudFront" in schemes["readTokenHeader"]["description"]
    assert schemes["readToken"]["type"] == "http" and schemes["readToken"]["scheme"] == "bearer"
    assert {"session", "readToken", "readTokenHeader"} <= used


def test_the_chat_declares_the_session_cookie_only() -> None:
    schemes, used = _schemes("chat")
    assert set(schemes) == {"session"} and used == {"session"}
