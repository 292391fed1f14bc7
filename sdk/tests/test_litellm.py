"""The LiteLLM wrappers and callback, through LiteLLM's real HTTP path against the fake OpenAI server."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from typing import Any

import prism_sdk
import pytest
from sdk_support import FakeIngest, validate

from tests.support.fake_openai import Behaviour, FakeOpenAI

pytestmark = pytest.mark.unit
MSGS = [{"role": "user", "content": "Say hello"}]


def ts(s: str) -> dt.datetime:
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00"))


def call_kw(fake: FakeOpenAI, model: str = "openai/gpt-4o-mini", **kw: Any) -> dict[str, Any]:
    return {"model": model, "api_base": fake.base_url, "api_key": "x", "messages": MSGS, **kw}


#: RFC 3339 strings carry microseconds: a stamp read back can be off by that much
ROUNDING = 1e-5


def assert_stamped(
    ev: dict[str, Any], stamp: str, provider_waited: float, caller_saw: float
) -> None:
    """Where the event put ``stamp`` (``ts_first_token`` or ``ts_end``), by bounds that hold however
    slow the machine is: no sooner after ``ts_start`` than the provider waited before sending that
    chunk (a stamp taken from an earlier chunk, as the role chunk sent at once, would be sooner), and
    no later than the wall-clock time the caller's loop got it (one taken from a later chunk would be).
    How close a stamp is to the provider's send time is measured by bench/sdk_bench.py."""
    start, t = ts(ev["ts_start"]).timestamp(), ts(ev[stamp]).timestamp()
    assert t - start >= provider_waited - ROUNDING, f"{stamp} {(t - start) * 1000:.1f} ms after the start"
    assert t <= caller_saw + ROUNDING, f"{stamp} {(t - caller_saw) * 1000:.1f} ms after the caller got it"


def sent(client: prism_sdk.Prism, ingest: FakeIngest, n: int = 1) -> list[dict[str, Any]]:
    assert client.flush(30)
    assert len(ingest.events) == n, ingest.events
    for e in ingest.events:
        validate(e)
    return ingest.events


def test_non_streaming_call_gives_one_complete_event(client, ingest, fake) -> None:
    # GIVEN a model answering with known usage (cached + reasoning tokens)
    fake.behaviour = Behaviour(
        text="Hello there",
        usage={
            "prompt_tokens": 10,
            "completion_tokens": 2,
            "total_tokens": 12,
            "prompt_tokens_details": {"cached_tokens": 4},
            "completion_tokens_details": {"reasoning_tokens": 1},
        },
    )
    # WHEN it is called through the wrapper with per-call context
    resp = prism_sdk.completion(
        **call_kw(fake, temperature=0.2, max_tokens=50),
        prism={"conversation_id": "c-1", "message_id": "m-1", "user_id": "u-1", "tags": ["t1"]},
    )
    # THEN the caller gets LiteLLM's response, and one event describes the call
    assert resp.choices[0].message.content == "Hello there"
    (ev,) = sent(client, ingest)
    assert ev == prism_sdk.event_of(resp)
    assert ev["status"] == "ok"
    assert (ev["provider"], ev["model"], ev["response"]["model"]) == ("openai", "gpt-4o-mini", "gpt-4o-mini")
    assert ev["request"]["messages"] == MSGS
    assert ev["request"]["params"] == {"temperature": 0.2, "max_tokens": 50}
    assert ev["response"]["content"] == "Hello there"
    assert ev["response"]["finish_reason"] == "stop"
    assert ev["usage"] == {
        "prompt_tokens": 10,
        "completion_tokens": 2,
        "total_tokens": 12,
        "cached_tokens": 4,
        "reasoning_tokens": 1,
    }
    assert ev["cost_usd"] > 0 and ev["cost_note"] is None
    assert ev["ts_first_token"] is None
    assert (ev["conversation_id"], ev["message_id"], ev["user_id"], ev["tags"]) == (
        "c-1",
        "m-1",
        "u-1",
        ["t1"],
    )
    assert "api_key" not in str(ev["request"]) and "api_base" not in ev["request"]["params"]
    assert fake.chat_requests[-1].body.get("prism") is None  # the prism= keyword never reaches LiteLLM
    assert ingest.requests[0]["headers"]["Authorization"] == "Bearer test-key"
    assert ingest.requests[0]["headers"]["Content-Encoding"] == "gzip"


def test_stream_ttft_and_total_latency_are_when_the_provider_sent_them(client, ingest, fake) -> None:
    # GIVEN a stream whose first content chunk comes after 250 ms, then 3 more every 200 ms
    fake.behaviour = Behaviour(chunks=["a", "b", "c", "d"], first_token_delay=0.25, inter_token_delay=0.2)
    # WHEN it is consumed to the end, the caller noting when it got the first content chunk and the end
    stream = prism_sdk.completion(**call_kw(fake), stream=True)
    assert prism_sdk.event_of(stream) is None  # still open
    text, first_seen = "", None
    for c in stream:
        if c.choices and c.choices[0].delta.content:
            first_seen = first_seen or time.time()
            text += c.choices[0].delta.content
    ended = time.time()
    # THEN TTFT is the first content chunk (the role chunk came at once), total the whole stream
    assert text == "abcd" and first_seen is not None
    (ev,) = sent(client, ingest)
    req = fake.chat_requests[-1]
    assert_stamped(ev, "ts_first_token", 0.25, first_seen)
    assert_stamped(ev, "ts_end", 0.25 + 3 * 0.2, ended)
    assert ts(ev["ts_start"]).timestamp() < req.received_at - time.monotonic() + time.time()
    assert ev["status"] == "ok" and ev["response"]["content"] == "abcd"
    assert ev["usage"]["completion_tokens"] == 4 and ev["cost_usd"] > 0


def test_usage_is_asked_for_but_the_caller_sees_the_same_chunks(client, ingest, fake) -> None:
    # GIVEN a caller that did not ask for usage in the stream
    stream = prism_sdk.completion(**call_kw(fake), stream=True)
    chunks = list(stream)
    # THEN the provider was asked for it, the event has it, and no extra usage-only chunk reached the caller
    assert fake.chat_requests[-1].body["stream_options"] == {"include_usage": True}
    assert all(c.choices for c in chunks)
    (ev,) = sent(client, ingest)
    assert ev["usage"]["total_tokens"] > 0
    assert "stream_options" not in ev["request"]["params"]


def test_caller_asking_for_usage_gets_the_usage_chunk(client, ingest, fake) -> None:
    stream = prism_sdk.completion(**call_kw(fake), stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    assert not chunks[-1].choices and chunks[-1].usage.total_tokens > 0
    assert sent(client, ingest)[0]["usage"]["total_tokens"] == chunks[-1].usage.total_tokens


def test_stream_abandoned_with_break_is_cancelled_with_partial_output(client, ingest, fake) -> None:
    # GIVEN a slow stream
    fake.behaviour = Behaviour(chunks=["one", " two", " three", " four"], inter_token_delay=0.1)
    stream = prism_sdk.completion(**call_kw(fake), stream=True)
    # WHEN the caller stops after two content chunks and closes the stream (a ``with stream:`` block
    # does the same; a stream merely dropped is logged when Python collects it)
    got = []
    with stream:
        for c in stream:
            if c.choices[0].delta.content:
                got.append(c.choices[0].delta.content)
            if len(got) == 2:
                break
    # THEN the event is cancelled with what was received
    (ev,) = sent(client, ingest)
    assert ev["status"] == "cancelled"
    assert ev["response"]["content"] == "one two"
    assert ev["cost_usd"] is None and "cancelled" in ev["cost_note"]


def test_sync_stream_broken_out_of_and_dropped_without_close_is_cancelled(client, ingest, fake) -> None:
    import gc
    import weakref

    from litellm.litellm_core_utils.streaming_handler import CustomStreamWrapper

    # GIVEN a slow stream (LiteLLM's own stream object sits in a reference cycle)
    fake.behaviour = Behaviour(chunks=["one", " two", " three", " four"], inter_token_delay=0.2)
    seen: list[dict[str, Any]] = []
    stream = prism_sdk.completion(**call_kw(fake), stream=True, prism={"on_event": seen.append})
    assert isinstance(stream, CustomStreamWrapper) and stream.custom_llm_provider == "openai"
    inner = weakref.ref(stream.logging_obj.model_call_details["original_response"])
    # WHEN the caller breaks out after two content chunks and just drops the stream (no close)
    got = []
    for c in stream:
        if c.choices[0].delta.content:
            got.append(c.choices[0].delta.content)
        if len(got) == 2:
            break
    del stream, c
    if not seen:  # CPython frees the handle at once; other runtimes need a collection
        gc.collect()
    # THEN a cancelled event with the partial output is logged, and the upstream request is closed
    assert [e["status"] for e in seen] == ["cancelled"]
    (ev,) = sent(client, ingest)
    assert ev == seen[0]
    assert ev["response"]["content"] == "one two"
    assert ev["cost_usd"] is None and "cancelled" in ev["cost_note"]
    req = fake.chat_requests[-1]
    assert req.wait_done(30) and req.disconnected and not req.completed
    gc.collect()
    assert inner() is None or inner()._closed


def test_async_stream_broken_out_of_and_dropped_is_cancelled_and_closed(client, ingest, fake) -> None:
    fake.behaviour = Behaviour(chunks=["x", "y", "z"], inter_token_delay=0.2)
    seen: list[dict[str, Any]] = []

    async def run() -> None:
        stream = await prism_sdk.acompletion(**call_kw(fake), stream=True, prism={"on_event": seen.append})
        async for c in stream:
            if c.choices[0].delta.content:
                break
        del stream
        await asyncio.sleep(0)  # the handle's finaliser schedules LiteLLM's aclose() on this loop
        for _ in range(100):
            if fake.chat_requests[-1]._done.is_set():
                break
            await asyncio.sleep(0.02)

    asyncio.run(run())
    assert [e["status"] for e in seen] == ["cancelled"] and seen[0]["response"]["content"] == "x"
    (ev,) = sent(client, ingest)
    assert ev["status"] == "cancelled"
    req = fake.chat_requests[-1]
    assert req.wait_done(30) and req.disconnected and not req.completed


def test_stream_handle_forwards_to_litellms_stream(client, ingest, fake) -> None:
    stream = prism_sdk.completion(**call_kw(fake), stream=True)
    inner = stream.logging_obj.model_call_details["original_response"]
    assert inner is not stream and type(inner).__name__ == type(stream).__name__ == "CustomStreamWrapper"
    stream.my_flag = 1  # writes land on LiteLLM's stream
    assert inner.my_flag == 1 and stream.__dict__ is inner.__dict__
    assert iter(stream) is stream and stream.hidden_params is inner.hidden_params
    chunks = list(stream)
    assert chunks and prism_sdk.event_of(stream)["status"] == "ok"
    stream.close()  # after the end: still ok, not cancelled
    assert prism_sdk.event_of(stream)["status"] == "ok"


def test_async_stream_aclose_is_cancelled_and_closes_the_upstream_request(client, ingest, fake) -> None:
    fake.behaviour = Behaviour(chunks=["x", "y", "z"], inter_token_delay=0.2)
    seen: list[dict[str, Any]] = []

    async def run() -> Any:
        stream = await prism_sdk.acompletion(**call_kw(fake), stream=True, prism={"on_event": seen.append})
        async for c in stream:
            if c.choices[0].delta.content:
                break
        await stream.aclose()
        return stream

    stream = asyncio.run(run())
    (ev,) = sent(client, ingest)
    assert ev["status"] == "cancelled" and ev["response"]["content"] == "x"
    assert seen == [ev] and prism_sdk.event_of(stream) == ev
    req = fake.chat_requests[-1]
    assert req.wait_done(30) and req.disconnected and not req.completed


def test_task_cancellation_mid_stream_is_cancelled(client, ingest, fake) -> None:
    fake.behaviour = Behaviour(chunks=["x", "y"], first_token_delay=0.05, inter_token_delay=5)

    async def consume() -> None:
        stream = await prism_sdk.acompletion(**call_kw(fake), stream=True)
        async for _ in stream:
            pass

    async def run() -> None:
        task = asyncio.create_task(consume())
        await asyncio.sleep(0.5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(run())
    (ev,) = sent(client, ingest)
    assert ev["status"] == "cancelled" and ev["response"]["content"] == "x"


@pytest.mark.parametrize("stream", [False, True])
def test_provider_error_is_logged_as_error_and_raised(client, ingest, fake, stream: bool) -> None:
    import litellm

    fake.behaviour = Behaviour(error_status=400, error_body={"error": {"message": "bad thing", "type": "x"}})
    with pytest.raises(litellm.BadRequestError):
        resp = prism_sdk.completion(**call_kw(fake), stream=stream, num_retries=0)
        list(resp)
    (ev,) = sent(client, ingest)
    assert ev["status"] == "error"
    assert ev["error"]["type"] == "BadRequestError" and ev["error"]["status_code"] == 400
    assert "bad thing" in ev["error"]["message"]
    assert ev["provider"] == "openai" and ev["cost_usd"] is None and ev["cost_note"]


def test_rate_limit_is_an_error_with_status_429(client, ingest, fake) -> None:
    import litellm

    fake.behaviour = Behaviour(error_status=429, retry_after="1")
    with pytest.raises(litellm.RateLimitError):
        prism_sdk.completion(**call_kw(fake), num_retries=0, max_retries=0)
    (ev,) = sent(client, ingest)
    assert ev["status"] == "error" and ev["error"]["status_code"] == 429


def test_mid_stream_disconnect_is_an_error_with_partial_output(client, ingest, fake) -> None:
    fake.behaviour = Behaviour(chunks=["p1", "p2", "p3", "p4"], disconnect_after=2)
    with pytest.raises(Exception):  # noqa: B017 - LiteLLM's exception type for a dropped stream varies
        for _ in prism_sdk.completion(**call_kw(fake), stream=True):
            pass
    (ev,) = sent(client, ingest)
    assert ev["status"] == "error"
    assert ev["response"]["content"] == "p1p2"


def test_streamed_tool_calls_are_assembled(client, ingest, fake) -> None:
    fake.behaviour = Behaviour(
        chunks=[],
        finish_reason="tool_calls",
        tool_calls=[
            {"id": "call_1", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}
        ],
    )
    list(
        prism_sdk.completion(
            **call_kw(fake), stream=True, tools=[{"type": "function", "function": {"name": "get_time"}}]
        )
    )
    (ev,) = sent(client, ingest)
    assert ev["response"]["tool_calls"] == [
        {"id": "call_1", "type": "function", "name": "get_time", "arguments": "{}"}
    ]
    assert ev["response"]["finish_reason"] == "tool_calls"
    assert ev["request"]["tools"][0]["function"]["name"] == "get_time"
    assert ev["ts_first_token"] is not None


def test_unknown_model_has_a_cost_note_not_a_silent_zero(client, ingest, fake) -> None:
    prism_sdk.completion(**call_kw(fake, model="openai/my-private-model"))
    (ev,) = sent(client, ingest)
    assert ev["cost_usd"] is None
    assert "no price known" in ev["cost_note"] and "my-private-model" in ev["cost_note"]


def test_context_block_applies_and_nests(client, ingest, fake) -> None:
    with prism_sdk.context(conversation_id="c-1", tags=["a"], metadata={"k": 1}):
        with prism_sdk.context(user_id="u-2", tags=["b"], metadata={"j": 2}):
            prism_sdk.completion(**call_kw(fake), prism={"message_id": "m-3", "tags": ["c"]})
        prism_sdk.completion(**call_kw(fake))
    prism_sdk.completion(**call_kw(fake))
    e1, e2, e3 = sent(client, ingest, 3)
    assert (e1["conversation_id"], e1["user_id"], e1["message_id"]) == ("c-1", "u-2", "m-3")
    assert e1["tags"] == ["a", "b", "c"] and e1["metadata"] == {"k": 1, "j": 2}
    assert e2["conversation_id"] == "c-1" and e2.get("user_id") is None
    assert e3.get("conversation_id") is None


def test_context_is_per_asyncio_task(client, ingest, fake) -> None:
    async def one(cid: str) -> None:
        with prism_sdk.context(conversation_id=cid):
            await asyncio.sleep(0.01)
            await prism_sdk.acompletion(**call_kw(fake))

    async def run() -> None:
        await asyncio.gather(one("c-a"), one("c-b"))

    asyncio.run(run())
    convs = sorted(e["conversation_id"] for e in sent(client, ingest, 2))
    assert convs == ["c-a", "c-b"]


def test_capture_content_off_logs_no_text(ingest, fake) -> None:
    c = prism_sdk.init(ingest_url=ingest.url, flush_interval=0.05, capture_content=False)
    try:
        prism_sdk.completion(**call_kw(fake))
        ev = sent(c, ingest)[0]
        assert "content" not in ev["request"]["messages"][0]
        assert ev["response"]["content"] is None and ev["usage"]["total_tokens"] > 0
    finally:
        c.shutdown()
        prism_sdk.init(enabled=False)


def test_litellm_callback_logs_direct_calls(client, ingest, fake) -> None:
    import litellm

    logger = prism_sdk.PrismLogger()
    old = litellm.callbacks
    litellm.callbacks = [logger]
    try:
        # LiteLLM's completion_start_time is its first chunk: make that the first content chunk
        fake.behaviour = Behaviour(chunks=["a", "b"], first_token_delay=0.2, role_chunk_first=False)
        litellm.completion(**call_kw(fake), metadata={"prism": {"conversation_id": "c-cb"}})
        stream = litellm.completion(**call_kw(fake), stream=True, stream_options={"include_usage": True})
        first_seen = None
        for c in stream:
            if first_seen is None and c.choices and c.choices[0].delta.content:
                first_seen = time.time()

        async def run() -> None:
            await litellm.acompletion(**call_kw(fake))
            await asyncio.sleep(0.5)  # LiteLLM logs from a task of this loop

        asyncio.run(run())
        deadline = 50
        while len(ingest.events) < 3 and deadline:
            client.flush(0.2)
            deadline -= 1
    finally:
        litellm.callbacks = old
        # LiteLLM copies callbacks into its own lists: take the logger out of all of them
        lists = ("success_callback", "failure_callback", "_async_success_callback", "_async_failure_callback")
        for name in lists:
            lst = getattr(litellm, name, None)
            if isinstance(lst, list):
                lst[:] = [cb for cb in lst if cb is not logger]
    events = sent(client, ingest, 3)
    by_stream = {bool(e["request"]["params"].get("stream")): e for e in events}
    assert any(e.get("conversation_id") == "c-cb" for e in events)
    s = by_stream[True]
    assert s["status"] == "ok" and s["response"]["content"] == "ab" and s["cost_usd"] > 0
    stream_req = next(r for r in fake.chat_requests if r.stream)
    assert stream_req.first_content_at is not None and first_seen is not None
    assert_stamped(s, "ts_first_token", 0.2, first_seen)


def test_wrapper_without_ingestion_url_still_works_and_warns_once(monkeypatch, fake, caplog) -> None:
    import prism_sdk._log as sdk_log

    monkeypatch.delenv("PRISM_INGEST_URL", raising=False)
    monkeypatch.setattr(sdk_log, "_warned", set())
    c = prism_sdk.init()
    prism_sdk.init()
    try:
        resp = prism_sdk.completion(**call_kw(fake))
        assert resp.choices[0].message.content
        assert prism_sdk.event_of(resp)["status"] == "ok"  # the event is still built for the caller
        warnings = [
            r for r in caplog.records if "PRISM_INGEST_URL" in r.getMessage() and r.levelname == "WARNING"
        ]
        assert len(warnings) == 1
        assert c.stats().sent == 0
    finally:
        prism_sdk.init(enabled=False)


def test_a_provider_echoing_the_api_key_does_not_leak_it_into_the_event(client, ingest, fake) -> None:
    import litellm

    key = "custom-endpoint-key-1234567890"
    body = {"error": {"message": f"invalid key {key}", "type": "auth"}}
    fake.behaviour = Behaviour(error_status=401, error_body=body)
    with pytest.raises(litellm.AuthenticationError):
        prism_sdk.completion(**{**call_kw(fake), "api_key": key}, num_retries=0)
    (ev,) = sent(client, ingest)
    assert key not in json.dumps(ev)
    assert "invalid key [SECRET]" in ev["error"]["message"]


def test_the_caller_can_choose_the_event_id(client, ingest, fake) -> None:
    chosen = "0192f1a2-0000-7000-8000-000000000001"
    prism_sdk.completion(**call_kw(fake), prism={"event_id": chosen})
    (ev,) = sent(client, ingest)
    assert ev["id"] == chosen


def test_the_caller_can_name_the_real_provider(client, ingest, fake) -> None:
    # GIVEN an OpenAI-compatible server, which LiteLLM calls through its "openai" provider
    fake.behaviour = Behaviour(text="Hi")
    # WHEN the caller names the provider it really is
    prism_sdk.completion(**call_kw(fake, model="openai/llama3.2"), prism={"provider": "ollama"})
    prism_sdk.completion(**call_kw(fake, model="openai/llama3.2"))
    named, default = sent(client, ingest, 2)
    # THEN the event carries that name (the model name without LiteLLM's prefix); by default LiteLLM's
    assert (named["provider"], named["model"]) == ("ollama", "llama3.2")
    assert (default["provider"], default["model"]) == ("openai", "llama3.2")


def test_wrapped_calls_return_while_ingestion_holds_their_events_unanswered(ingest, fake) -> None:
    # GIVEN an ingestion API that reads each request and never answers it (a gate the test holds shut)
    ingest.hold = True
    c = prism_sdk.init(ingest_url=ingest.url, api_key="k", flush_interval=0.01, timeout=60)
    try:
        # WHEN wrapped calls are made, plain and streamed
        answers = [prism_sdk.completion(**call_kw(fake)).choices[0].message.content for _ in range(3)]
        stream = prism_sdk.completion(**call_kw(fake), stream=True)
        answers.append("".join(ch.choices[0].delta.content or "" for ch in stream))
        # THEN every call returned its answer while its event's delivery was still waiting on the
        # ingestion API: the caller never waits on delivery (how little it costs: bench/sdk_bench.py)
        assert all(answers)
        deadline = time.monotonic() + 30  # a hang guard: the background thread sends within ms
        while not ingest.held:
            assert time.monotonic() < deadline, "the background thread never sent the events"
            time.sleep(0.01)
        s = c.stats()
        assert s.sent == 0 and not ingest.events and s.dropped_total == 0
    finally:
        ingest.stop()  # opens the gate: the held connections are closed unanswered
        c.shutdown(timeout=1)
        prism_sdk.init(enabled=False)
