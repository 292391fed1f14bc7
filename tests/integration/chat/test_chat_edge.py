"""The chat API's edge, on uvicorn over a real socket and PostgreSQL: no page on another site (or
rebinding to loopback) can act on it, chat turns are rate-limited per caller, and a client that
trickles its body holds no connection for ever."""

from __future__ import annotations

import socket
import time
from typing import Any

import httpx

from tests.integration.chat.conftest import ChatApi

DEMO = "demo/prism-demo"


def test_a_rebinding_host_is_refused_and_loopback_names_are_served(make_chat: Any) -> None:
    chat: ChatApi = make_chat()
    for host in ("attacker.example", "attacker.example:8100", "127.0.0.1.nip.io"):
        resp = chat.client.get("/api/conversations", headers={"Host": host})
        assert resp.status_code == 400 and resp.json()["error"]["code"] == "invalid_host", host
    for host in ("localhost:8100", "127.0.0.1", "[::1]:8100"):
        assert chat.client.get("/api/conversations", headers={"Host": host}).status_code == 200, host


def test_cross_site_requests_cannot_change_anything(make_chat: Any) -> None:
    chat: ChatApi = make_chat()
    cid = chat.new_conversation()
    # a cross-site form post, and a "simple" fetch with no preflight: neither is JSON
    form = chat.client.post(f"/api/conversations/{cid}/cancel", data={"x": "1"})
    assert form.status_code == 415 and form.json()["error"]["code"] == "unsupported_media_type"
    plain = chat.client.post(f"/api/conversations/{cid}/cancel", content=b"{}", headers={"Content-Type": "text/plain"})
    assert plain.status_code == 415
    bare = chat.client.post(f"/api/conversations/{cid}/cancel")
    assert bare.status_code == 415
    # JSON from a page of another origin (which a browser would preflight and CORS refuse)
    evil = chat.client.post(f"/api/conversations/{cid}/cancel", json={}, headers={"Origin": "http://evil.example"})
    assert evil.status_code == 403 and evil.json()["error"]["code"] == "cross_origin"
    delete = chat.client.delete(f"/api/conversations/{cid}", headers={"Origin": "http://evil.example"})
    assert delete.status_code == 403
    assert chat.client.get(f"/api/conversations/{cid}").status_code == 200  # still there
    # THEN the web UI's own origin, and tools that send no Origin, act as before
    ours = chat.client.post(f"/api/conversations/{cid}/cancel", json={}, headers={"Origin": "http://localhost:3001"})
    assert ours.status_code == 200
    assert chat.client.post(f"/api/conversations/{cid}/cancel", json={}).status_code == 200


def _turn(chat: ChatApi, cid: str) -> httpx.Response:
    with chat.client.stream("POST", f"/api/conversations/{cid}/messages", json={"content": "hi", "model": DEMO}) as r:
        r.read()
        return r


def test_chat_turns_are_rate_limited_per_caller_with_retry_after(make_chat: Any) -> None:
    chat: ChatApi = make_chat(rate_limit_chat_turns="3/minute")
    cid = chat.new_conversation()
    assert [_turn(chat, cid).status_code for _ in range(3)] == [200, 200, 200]
    refused = _turn(chat, cid)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    # reading is not limited, and the refused turn stored nothing
    messages = chat.messages(cid)
    assert len(messages) == 6 and all(m["status"] != "streaming" for m in messages)


def test_a_trickled_body_gets_408_within_the_bound(make_chat: Any) -> None:
    chat: ChatApi = make_chat(body_timeout_s=0.5)
    port = int(chat.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            b"POST /api/conversations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n{"
        )
        started = time.monotonic()
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
        waited = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b'"request_timeout"' in answer
    assert waited < 5.0  # the bound is 0.5 s; without it the server waits for the body for ever
