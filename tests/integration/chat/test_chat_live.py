"""A reply survives the page (issue 14 §1): a client that goes away does not stop it, and any
instance sharing the database serves a client that follows it again. Real uvicorn instances,
PostgreSQL, LiteLLM's HTTP path and the fake provider, paced by events the tests set."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from tests.integration.chat.conftest import ChatApi, read_sse
from tests.support.fake_openai import Behaviour, FakeOpenAI

MODEL = "openai_compatible/fake-model"
CHUNKS = ["one", " two", " three", " four"]

pytestmark = pytest.mark.usefixtures("ingest")


def _wait(pred: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def _events(lines: Iterator[str]) -> Iterator[tuple[str | None, str, dict[str, Any]]]:
    """(id, event, data) triples, as they arrive."""
    event_id: str | None = None
    event: str | None = None
    for line in lines:
        if line.startswith("id: "):
            event_id = line[4:]
        elif line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: ") and event is not None:
            yield event_id, event, json.loads(line[6:])
            event_id = event = None


def _gated(gate: threading.Event) -> Behaviour:
    """Two chunks at once, the other two once the test sets ``gate``."""
    return Behaviour(chunks=CHUNKS, gates={2: gate})


def _start_and_leave(chat: ChatApi, cid: str) -> str:
    """Send a message, read the start and two deltas, then go away (a reload); the reply's id."""
    with chat.client.stream(
        "POST", f"/api/conversations/{cid}/messages", json={"content": "count", "model": MODEL}
    ) as resp:
        events = read_sse(resp.iter_lines())
        kind, start = next(events)
        assert kind == "start"
        assert [next(events)[1]["content"] for _ in range(2)] == ["one", " two"]
    return str(start["message_id"])


def _assistant(chat: ChatApi, cid: str) -> dict[str, Any]:
    return chat.messages(cid)[1]


@pytest.fixture
def pair(make_chat: Any, fake: FakeOpenAI) -> tuple[ChatApi, ChatApi]:
    """Two chat instances on one database (as two Lambda instances, or two replicas)."""
    a: ChatApi = make_chat(chat_live_interval_s=0.05)
    b: ChatApi = make_chat(chat_live_interval_s=0.05)
    a.configure_fake(fake)
    return a, b


def test_a_client_that_goes_away_does_not_stop_the_reply(pair: tuple[ChatApi, ChatApi], fake: FakeOpenAI) -> None:
    a, _ = pair
    gate = threading.Event()
    fake.behaviour = _gated(gate)
    cid = a.new_conversation()
    # GIVEN a reply whose client left after two deltas
    _start_and_leave(a, cid)
    # WHEN the provider goes on
    gate.set()
    # THEN the reply is stored whole, as complete, and the provider was never cut off
    _wait(lambda: _assistant(a, cid)["status"] != "streaming")
    assistant = _assistant(a, cid)
    assert (assistant["status"], assistant["content"]) == ("complete", "one two three four")
    req = fake.chat_requests[-1]
    assert req.wait_done(10) and req.completed and not req.disconnected


def test_another_instance_shows_the_text_so_far_then_follows_the_rest(
    pair: tuple[ChatApi, ChatApi], fake: FakeOpenAI
) -> None:
    a, b = pair
    gate = threading.Event()
    fake.behaviour = _gated(gate)
    cid = a.new_conversation()
    mid = _start_and_leave(a, cid)
    # GIVEN instance B reads the conversation mid-reply: streaming, with the text so far
    _wait(lambda: _assistant(b, cid)["content"] == "one two")
    assert _assistant(b, cid)["status"] == "streaming"
    # WHEN a client follows the reply through B
    with b.client.stream("GET", f"/api/conversations/{cid}/messages/{mid}/stream") as resp:
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
        events = _events(resp.iter_lines())
        assert next(events)[1:] == ("start", {"conversation_id": cid, "message_id": mid, "model": MODEL,
                                              "provider": "openai_compatible"})  # fmt: skip
        # THEN it gets the text so far at once...
        assert next(events) == ("7", "delta", {"content": "one two"})
        gate.set()
        rest = list(events)
    # ...then the rest in order, each part once, and the end
    deltas = [(i, d["content"]) for i, k, d in rest if k == "delta"]
    assert "one two" + "".join(c for _, c in deltas) == "one two three four"
    assert [int(i) for i, _ in deltas] == sorted({int(i) for i, _ in deltas}) and int(deltas[-1][0]) == 18
    assert rest[-1][1:3] == ("done", rest[-1][2]) and rest[-1][2]["status"] == "complete"
    assert rest[-1][2]["usage"]["completion_tokens"] == 4
    # AND a client resuming from the last id it saw gets nothing twice
    with b.client.stream(
        "GET", f"/api/conversations/{cid}/messages/{mid}/stream", headers={"Last-Event-ID": "7"}
    ) as resp:
        again = list(_events(resp.iter_lines()))
    assert [(k, d.get("content")) for _, k, d in again] == [("start", None), ("delta", " three four"), ("done", None)]
    at_end = b.client.get(f"/api/conversations/{cid}/messages/{mid}/stream", params={"offset": 18})
    assert [k for _, k, _ in _events(iter(at_end.text.splitlines()))] == ["start", "done"]


def test_stop_through_another_instance_still_cancels(pair: tuple[ChatApi, ChatApi], fake: FakeOpenAI) -> None:
    a, b = pair
    gate = threading.Event()  # never set: the provider would wait until cancelled
    fake.behaviour = _gated(gate)
    cid = a.new_conversation()
    mid = _start_and_leave(a, cid)
    with b.client.stream("GET", f"/api/conversations/{cid}/messages/{mid}/stream") as resp:
        events = _events(resp.iter_lines())
        assert next(events)[1] == "start"
        assert next(events)[2] == {"content": "one two"}
        # WHEN the reader presses Stop (the request lands on B; the turn runs on A)
        assert b.client.post(f"/api/conversations/{cid}/cancel", json={}).json()["message_ids"] == [mid]
        rest = list(events)
    # THEN the follower sees it end as cancelled, the provider's request is closed, the text kept
    assert rest[-1][1] == "done" and rest[-1][2]["status"] == "cancelled"
    req = fake.chat_requests[-1]
    assert req.wait_done(10) and req.disconnected and not req.completed
    assert (_assistant(a, cid)["status"], _assistant(a, cid)["content"]) == ("cancelled", "one two")


def test_the_timeout_still_ends_a_reply_nobody_watches(make_chat: Any, fake: FakeOpenAI) -> None:
    chat: ChatApi = make_chat(chat_timeout_s=1.0, chat_live_interval_s=0.05)
    chat.configure_fake(fake)
    fake.behaviour = _gated(threading.Event())  # the provider stalls after two chunks
    cid = chat.new_conversation()
    _start_and_leave(chat, cid)
    _wait(lambda: _assistant(chat, cid)["status"] != "streaming")
    assistant = _assistant(chat, cid)
    assert (assistant["status"], assistant["content"]) == ("error", "one two")
    assert assistant["error"]["code"] == "provider_timeout"
    assert fake.chat_requests[-1].wait_done(10) and fake.chat_requests[-1].disconnected


def test_a_reply_whose_process_died_ends_as_interrupted_for_its_follower(
    pair: tuple[ChatApi, ChatApi], chat_db: str
) -> None:
    _, b = pair
    cid = b.new_conversation()
    mid = uuid.uuid4()
    # GIVEN a reply left streaming by an instance killed long ago (no turn will ever end it)
    with psycopg.connect(chat_db, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO messages (id, conversation_id, role, content, status, model, provider, created_at) VALUES"
            " (%s, %s, 'assistant', 'half a rep', 'streaming', %s, 'openai_compatible', now() - interval '1 day')",
            (mid, cid, MODEL),
        )
    # WHEN a client follows it THEN it gets the text there is and the end, as interrupted
    resp = b.client.get(f"/api/conversations/{cid}/messages/{mid}/stream")
    events = list(_events(iter(resp.text.splitlines())))
    assert [(k, d.get("content")) for _, k, d in events] == [("start", None), ("delta", "half a rep"), ("error", None)]
    assert events[-1][2]["code"] == "interrupted"
    assert _assistant_of(b, cid, mid)["status"] == "error"


def _assistant_of(chat: ChatApi, cid: str, mid: uuid.UUID) -> dict[str, Any]:
    return next(m for m in chat.messages(cid) if m["id"] == str(mid))


def test_following_an_unknown_reply_is_a_404(pair: tuple[ChatApi, ChatApi]) -> None:
    _, b = pair
    cid = b.new_conversation()
    missing = b.client.get(f"/api/conversations/{cid}/messages/{uuid.uuid4()}/stream")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "message_not_found"
    nowhere = b.client.get(f"/api/conversations/{uuid.uuid4()}/messages/{uuid.uuid4()}/stream")
    assert nowhere.status_code == 404 and nowhere.json()["error"]["code"] == "conversation_not_found"
    bad = b.client.get(f"/api/conversations/{cid}/messages/{uuid.uuid4()}/stream", params={"offset": -1})
    assert bad.status_code == 422
