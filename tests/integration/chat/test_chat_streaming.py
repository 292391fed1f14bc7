"""The chat end to end: uvicorn, PostgreSQL, LiteLLM's real HTTP path through prism-sdk, and the
fake OpenAI-compatible server configured through the settings API."""

from __future__ import annotations

import logging
import time
from typing import Any

import psycopg
import pytest

from tests.integration.chat.conftest import ChatApi, Ingest, read_sse
from tests.support.fake_openai import Behaviour, FakeOpenAI

MODEL = "openai_compatible/fake-model"

pytestmark = pytest.mark.usefixtures("ingest")  # prism-sdk ships to the capture server


def _wait(pred: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def _turn(chat: ChatApi, cid: str, content: str, model: str = MODEL) -> list[tuple[str, dict[str, Any]]]:
    with chat.client.stream(
        "POST", f"/api/conversations/{cid}/messages", json={"content": content, "model": model}
    ) as resp:
        assert resp.status_code == 200, resp.read()
        return list(read_sse(resp.iter_lines()))


def test_tokens_arrive_before_the_provider_sends_its_last_one(chat: ChatApi, fake: FakeOpenAI) -> None:
    # GIVEN a provider that sends five chunks 300 ms apart
    fake.behaviour = Behaviour(chunks=["one", " two", " three", " four", " five"], inter_token_delay=0.3)
    chat.configure_fake(fake)
    cid = chat.new_conversation()
    # WHEN the first delta reaches the client
    with chat.client.stream(
        "POST", f"/api/conversations/{cid}/messages", json={"content": "count", "model": MODEL}
    ) as resp:
        events = read_sse(resp.iter_lines())
        assert next(events)[0] == "start"
        kind, data = next(events)
        # THEN the fake has not sent its last chunk yet
        req = fake.chat_requests[-1]
        assert (kind, data["content"]) == ("delta", "one")
        assert req.chunks_sent < 5 and not req.completed
        rest = list(events)
    assert rest[-1][0] == "done" and rest[-1][1]["status"] == "complete"
    assert "".join(d["content"] for k, d in rest if k == "delta") == " two three four five"


def test_stop_after_the_client_left_cancels_upstream_and_saves_the_partial_reply(
    chat: ChatApi, fake: FakeOpenAI, ingest: Ingest
) -> None:
    fake.behaviour = Behaviour(chunks=["Hello", " there", " and", " more"], inter_token_delay=0.5)
    chat.configure_fake(fake)
    cid = chat.new_conversation()
    received: list[str] = []
    with chat.client.stream(
        "POST", f"/api/conversations/{cid}/messages", json={"content": "hi", "model": MODEL}
    ) as resp:
        events = read_sse(resp.iter_lines())
        _, start = next(events)
        for kind, data in events:
            assert kind == "delta"
            received.append(data["content"])
            if len(received) == 2:
                break  # the client goes away mid-stream (the reply goes on: test_chat_live.py) ...
    # ... and the reader presses Stop
    assert chat.client.post(f"/api/conversations/{cid}/cancel", json={}).json()["cancelled"]
    # THEN the provider sees its request closed ...
    req = fake.chat_requests[-1]
    assert req.wait_done(10) and req.disconnected and not req.completed
    # ... the reply is stored as cancelled with the text the client saw ...
    _wait(lambda: chat.messages(cid)[1]["status"] != "streaming")
    assistant = chat.messages(cid)[1]
    assert assistant["status"] == "cancelled"
    assert assistant["content"].startswith("".join(received)) and "more" not in assistant["content"]
    # ... and prism-sdk logged the call as cancelled, linked to the conversation and message
    event = ingest.wait_for(lambda e: e.get("message_id") == start["message_id"])
    assert event["status"] == "cancelled" and event["conversation_id"] == cid
    assert assistant["inference_event_id"] == event["id"]


def test_the_cancel_route_stops_a_reply_for_a_client_that_cannot_abort(
    chat: ChatApi, fake: FakeOpenAI, ingest: Ingest
) -> None:
    fake.behaviour = Behaviour(chunks=["a", "b", "c", "d"], inter_token_delay=0.5)
    chat.configure_fake(fake)
    cid = chat.new_conversation()
    with chat.client.stream(
        "POST", f"/api/conversations/{cid}/messages", json={"content": "hi", "model": MODEL}
    ) as resp:
        events = read_sse(resp.iter_lines())
        _, start = next(events)
        assert next(events)[0] == "delta"
        cancelled = chat.client.post(f"/api/conversations/{cid}/cancel", json={}).json()
        assert cancelled == {"cancelled": True, "message_ids": [start["message_id"]]}
        rest = list(events)
    assert rest[-1][0] == "done" and rest[-1][1]["status"] == "cancelled"
    assert fake.chat_requests[-1].wait_done(10) and fake.chat_requests[-1].disconnected
    assert chat.messages(cid)[1]["status"] == "cancelled"
    event = ingest.wait_for(lambda e: e.get("message_id") == start["message_id"])
    assert event["status"] == "cancelled"


def test_a_second_turn_sends_the_first_turns_messages(chat: ChatApi, fake: FakeOpenAI, ingest: Ingest) -> None:
    chat.configure_fake(fake)
    cid = chat.new_conversation()
    fake.enqueue(Behaviour(text="Paris is the capital."), Behaviour(text="About 2.1 million."))
    first = _turn(chat, cid, "Capital of France?")
    second = _turn(chat, cid, "How many people live there?")
    assert first[-1][1]["status"] == second[-1][1]["status"] == "complete"
    assert fake.chat_requests[-1].body["messages"] == [
        {"role": "user", "content": "Capital of France?"},
        {"role": "assistant", "content": "Paris is the capital."},
        {"role": "user", "content": "How many people live there?"},
    ]
    messages = chat.messages(cid)
    assert [(m["role"], m["status"]) for m in messages] == [
        ("user", "complete"),
        ("assistant", "complete"),
        ("user", "complete"),
        ("assistant", "complete"),
    ]
    done = second[-1][1]
    assert done["usage"]["completion_tokens"] == 3 and done["usage"]["prompt_tokens"] > 0
    assert done["ttft_ms"] is not None and done["latency_ms"] >= done["ttft_ms"]
    event = ingest.wait_for(lambda e: e.get("message_id") == done["message_id"])
    assert event["status"] == "ok" and event["conversation_id"] == cid
    assert messages[3]["inference_event_id"] == event["id"] == done["inference_event_id"]


def test_the_demo_model_goes_through_litellms_http_path(chat: ChatApi, ingest: Ingest) -> None:
    groups = chat.client.get("/api/models").json()["providers"]
    assert [g["provider"] for g in groups] == ["demo"]
    cid = chat.new_conversation()
    events = _turn(chat, cid, "Hello demo", model="demo/prism-demo")
    text = "".join(d["content"] for k, d in events if k == "delta")
    assert "Hello demo" in text and events[-1][1]["status"] == "complete"
    assert events[-1][1]["cost_usd"] == 0.0
    event = ingest.wait_for(lambda e: e.get("conversation_id") == cid)
    assert event["status"] == "ok" and event["model"] == "prism-demo"
    assert "demo" in event["tags"] and event["metadata"]["chat_provider"] == "demo"
    assert event["usage"]["completion_tokens"] > 0


@pytest.mark.parametrize(
    ("behaviour", "code"),
    [
        (Behaviour(error_status=429, retry_after="1"), "provider_rate_limited"),
        (Behaviour(error_status=401), "provider_auth_failed"),
        (Behaviour(error_status=500), "provider_unavailable"),
        (Behaviour(hang=30), "provider_timeout"),
    ],
    ids=["429", "401", "500", "timeout"],
)
def test_provider_failures_reach_the_client_as_an_error_event(
    make_chat: Any, fake: FakeOpenAI, ingest: Ingest, behaviour: Behaviour, code: str
) -> None:
    chat: ChatApi = make_chat(chat_read_timeout_s=1.0)
    fake.behaviour = behaviour
    chat.configure_fake(fake)
    cid = chat.new_conversation()
    events = _turn(chat, cid, "hi")
    kind, data = events[-1]
    assert (kind, data["code"]) == ("error", code), data
    assert len(data["message"]) > 20
    if code == "provider_rate_limited":
        assert "Wait 1 s" in data["message"]
    assistant = chat.messages(cid)[1]
    assert assistant["status"] == "error" and assistant["error"]["code"] == code
    event = ingest.wait_for(lambda e: e.get("message_id") == data["message_id"])
    assert event["status"] == "error"


def test_a_refused_connection_and_a_cut_stream_are_error_events(
    chat: ChatApi, fake: FakeOpenAI, ingest: Ingest
) -> None:
    from tests.support.net import free_port

    cid = chat.new_conversation()
    resp = chat.client.put(
        "/api/settings/providers/openai_compatible",
        json={"base_url": f"http://127.0.0.1:{free_port()}/v1", "models": ["fake-model"]},
    )
    assert resp.status_code == 200
    kind, data = _turn(chat, cid, "hi")[-1]
    assert (kind, data["code"]) == ("error", "provider_unreachable")
    assert "127.0.0.1" in data["message"]

    chat.configure_fake(fake)
    fake.behaviour = Behaviour(chunks=["a", "b", "c"], disconnect_after=2)
    events = _turn(chat, cid, "again")
    assert [k for k, _ in events] == ["start", "delta", "delta", "error"]
    assert chat.messages(cid)[3]["content"] == "ab"


def test_provider_keys_never_leave_the_server_in_clear(
    chat: ChatApi, fake: FakeOpenAI, ingest: Ingest, caplog: pytest.LogCaptureFixture, chat_db: str
) -> None:
    secret = "sk-proj-THISisTHEsecretKEY-0123456789-wxyz"
    caplog.set_level(logging.DEBUG)
    bodies: list[str] = []
    resp = chat.client.put(
        "/api/settings/providers/openai_compatible", json={"base_url": fake.base_url, "api_key": secret}
    )
    bodies.append(resp.text)
    assert resp.json()["key_last4"] == "wxyz"
    bodies.append(chat.client.get("/api/settings/providers").text)
    bodies.append(chat.client.get("/api/models").text)
    cid = chat.new_conversation()
    with chat.client.stream(
        "POST", f"/api/conversations/{cid}/messages", json={"content": "hi", "model": MODEL}
    ) as stream:
        bodies.append(stream.read().decode())
    fake.behaviour = Behaviour(error_status=401, error_body={"error": {"message": f"bad key {secret}"}})
    with chat.client.stream(
        "POST", f"/api/conversations/{cid}/messages", json={"content": "hi", "model": MODEL}
    ) as stream:
        bodies.append(stream.read().decode())
    bodies.append(chat.client.get(f"/api/conversations/{cid}").text)
    bodies.append(chat.client.get("/api/conversations").text)
    # the key was used upstream ...
    assert fake.chat_requests[0].headers["authorization"] == f"Bearer {secret}"
    # ... but is in no response body, no log line, and only as ciphertext in the database
    for body in bodies:
        assert secret not in body
    assert "provider_auth_failed" in bodies[4]
    for record in caplog.records:
        assert secret not in record.getMessage()
    with psycopg.connect(chat_db) as conn:
        for table in ("conversations", "messages", "provider_credentials"):
            dump = conn.execute(f"SELECT coalesce(string_agg(t::text, '|'), '') FROM {table} t").fetchone()  # noqa: S608
            assert dump is not None and secret not in dump[0]
        token = conn.execute("SELECT api_key_ciphertext FROM provider_credentials").fetchone()
        assert token is not None and token[0].startswith("gAAAA")
    # prism-sdk's events never carry the request's key (an upstream error text that echoes it is
    # the SDK's and the ingestion redactor's to scrub)
    ingest.wait_for(lambda e: e.get("conversation_id") == cid and e.get("status") == "error")
    for raw in ingest.bodies:
        assert b"Bearer " + secret.encode() not in raw


def test_a_cancel_sent_to_another_instance_stops_the_stream(make_chat: Any, fake: FakeOpenAI) -> None:
    # GIVEN two instances on one database (on AWS: the streaming function and the Mangum one)
    streaming: ChatApi = make_chat()
    other: ChatApi = make_chat()
    fake.behaviour = Behaviour(chunks=["a", "b", "c", "d", "e"], inter_token_delay=0.5)
    streaming.configure_fake(fake)
    cid = streaming.new_conversation()
    with streaming.client.stream(
        "POST", f"/api/conversations/{cid}/messages", json={"content": "hi", "model": MODEL}
    ) as resp:
        events = read_sse(resp.iter_lines())
        _, start = next(events)
        assert next(events)[0] == "delta"
        # WHEN the cancel reaches the other instance
        cancelled = other.client.post(f"/api/conversations/{cid}/cancel", json={}).json()
        assert cancelled["message_ids"] == [start["message_id"]]
        rest = list(events)
    # THEN the streaming instance picks it up from the database and stops upstream
    assert rest[-1][0] == "done" and rest[-1][1]["status"] == "cancelled"
    assert rest[-1][1]["cancel_reason"] == "cancel_requested"
    assert fake.chat_requests[-1].wait_done(10) and fake.chat_requests[-1].disconnected
