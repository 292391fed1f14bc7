"""The real chat API behind the web origin (scripts/web.py), as the browser reaches it: a reply's
tokens arrive while the provider is still writing, closing the stream at the web origin cancels the
model call, and the chat's own edge (body limit, validation, request guard) still answers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from scripts.web import StaticServer
from tests.integration.chat.conftest import ChatApi, read_sse
from tests.support.fake_openai import Behaviour, FakeOpenAI

MODEL = "openai_compatible/fake-model"

pytestmark = pytest.mark.usefixtures("ingest")


@pytest.fixture
def web(chat: ChatApi, tmp_path: Path) -> Iterator[httpx.Client]:
    (tmp_path / "index.html").write_text("<html></html>")
    with StaticServer(tmp_path, {"chatApiUrl": ""}, upstreams={"chat": chat.url}) as server, \
            httpx.Client(base_url=server.url, timeout=30, headers={"Origin": server.url}) as client:  # fmt: skip
        yield chat.caller.on(client)  # signed in as the user of chat.client


def _wait(pred: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_tokens_arrive_through_the_web_origin_before_the_provider_finishes(
    chat: ChatApi, fake: FakeOpenAI, web: httpx.Client
) -> None:
    fake.behaviour = Behaviour(chunks=["one", " two", " three", " four", " five"], inter_token_delay=0.3)
    chat.configure_fake(fake)
    cid = web.post("/api/conversations", json={}).json()["id"]
    with web.stream("POST", f"/api/conversations/{cid}/messages", json={"content": "count", "model": MODEL}) as resp:
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
        events = read_sse(resp.iter_lines())
        assert next(events)[0] == "start"
        kind, data = next(events)
        assert (kind, data.get("content")) == ("delta", "one"), data.get("error")
        req = fake.chat_requests[-1]
        assert req.chunks_sent < 5 and not req.completed  # not buffered by the proxy
        rest = list(events)
    assert rest[-1][0] == "done" and rest[-1][1]["status"] == "complete"


def test_stop_at_the_web_origin_cancels_the_model_call_after_the_stream_closed(
    chat: ChatApi, fake: FakeOpenAI, web: httpx.Client
) -> None:
    fake.behaviour = Behaviour(chunks=["Hello", " there", " and", " more"], inter_token_delay=0.5)
    chat.configure_fake(fake)
    cid = web.post("/api/conversations", json={}).json()["id"]
    with web.stream("POST", f"/api/conversations/{cid}/messages", json={"content": "hi", "model": MODEL}) as resp:
        events = read_sse(resp.iter_lines())
        assert next(events)[0] == "start"
        assert next(events)[0] == "delta"
    # the browser went away (the reply goes on), then the reader pressed Stop: the provider is
    # stopped, the text kept
    assert web.post(f"/api/conversations/{cid}/cancel", json={}).json()["cancelled"]
    req = fake.chat_requests[-1]
    assert req.wait_done(10) and req.disconnected and not req.completed
    _wait(lambda: chat.messages(cid)[1]["status"] != "streaming")
    assert chat.messages(cid)[1]["status"] == "cancelled"


def test_the_chats_edge_still_answers_through_the_web_origin(chat: ChatApi, web: httpx.Client) -> None:
    cid = web.post("/api/conversations", json={}).json()["id"]
    too_big = web.post(f"/api/conversations/{cid}/messages", content=b"x" * (3 * 1024 * 1024),
                       headers={"Content-Type": "application/json"})  # fmt: skip
    assert too_big.status_code == 413 and too_big.json()["error"]["code"] == "payload_too_large"
    malformed = web.post(f"/api/conversations/{cid}/messages", content=b'{"content": ',
                         headers={"Content-Type": "application/json"})  # fmt: skip
    assert malformed.status_code == 422 and malformed.json()["error"]["code"] == "validation_error"
    evil = web.post(f"/api/conversations/{cid}/cancel", json={}, headers={"Origin": "http://evil.example"})
    assert evil.status_code == 403 and evil.json()["error"]["code"] == "cross_origin"
    rebound = web.get("/api/conversations", headers={"Host": "attacker.example"})
    assert rebound.status_code == 400 and rebound.json()["error"]["code"] == "invalid_host"
    assert web.get(f"/api/conversations/{cid}").status_code == 200
