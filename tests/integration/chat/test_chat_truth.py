"""Issue 14 §2: what the chat records is true. The first turn's TTFT is the provider's, not
LiteLLM's warm-up; an OpenAI-compatible endpoint is logged as itself, not as OpenAI; after a failed
turn the next request alternates user and assistant; a provider error reads without LiteLLM's
internals. Real uvicorn, PostgreSQL, LiteLLM's HTTP path through prism-sdk, the fake OpenAI server."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from chat.app import create_app
from chat.egress import EgressPolicy
from chat.gateway import LiteLLMGateway, import_litellm
from prism.identity.service import IdentityService

from tests.integration.chat.conftest import ChatApi, Ingest, chat_settings, read_sse
from tests.support.auth import Callers
from tests.support.fake_openai import Behaviour, FakeOpenAI
from tests.support.net import ThreadServer

MODEL = "openai_compatible/fake-model"

pytestmark = pytest.mark.usefixtures("ingest")


def _turn(chat: ChatApi, cid: str, content: str, model: str = MODEL) -> list[tuple[str, dict[str, Any]]]:
    with chat.client.stream(
        "POST", f"/api/conversations/{cid}/messages", json={"content": content, "model": model}
    ) as resp:
        assert resp.status_code == 200, resp.read()
        return list(read_sse(resp.iter_lines()))


def _seconds(ts: str) -> float:
    """An event's RFC 3339 timestamp (nanoseconds, ``Z``) as seconds since the epoch."""
    whole, _, frac = ts.rstrip("Z").partition(".")
    return datetime.fromisoformat(whole + "+00:00").timestamp() + float("0." + (frac or "0"))


class SlowWarmUp(LiteLLMGateway):
    """LiteLLM's first import made slow, as on a cold, busy host: the warm-up is held until a turn
    is waiting on it, then takes ``slow_s`` more."""

    def __init__(self, slow_s: float) -> None:
        super().__init__(egress=EgressPolicy(allow_private=True))
        self.slow_s = slow_s
        self.turn_waiting = threading.Event()
        self._once = threading.Lock()
        self._slowed = False

    def warm(self) -> None:
        with self._once:
            if not self._slowed:
                assert self.turn_waiting.wait(30), "no turn came"
                time.sleep(self.slow_s)  # the simulated slow import (not an assertion)
                self._slowed = True
        super().warm()


@pytest.fixture
def slow_chat(chat_db: str, chat_identity: IdentityService) -> Iterator[tuple[ChatApi, SlowWarmUp]]:
    import_litellm()  # the import itself is paid here (tens of seconds on a busy host); the slowness is simulated
    gateway = SlowWarmUp(slow_s=5.0)
    app = create_app(chat_settings(chat_db, chat_timeout_s=120.0), gateway=gateway, identity=chat_identity)
    callers = Callers(chat_identity)
    admin = callers.session("admin")
    with ThreadServer(app) as server, admin.on(httpx.Client(base_url=server.url, timeout=60)) as client:
        yield ChatApi(server.url, app, client, callers, admin), gateway
        app.state.chat.store.close()
        if app.state.demo is not None:
            app.state.demo.stop()


def test_the_first_turn_after_start_times_the_provider_not_the_warm_up(
    slow_chat: tuple[ChatApi, SlowWarmUp], fake: FakeOpenAI, ingest: Ingest
) -> None:
    chat, gateway = slow_chat
    # GIVEN a provider whose first token comes 0.3 s after the request, and a warm-up still running
    fake.behaviour = Behaviour(chunks=["Hi", " there"], first_token_delay=0.3)
    chat.configure_fake(fake, api_key=None)
    cid = chat.new_conversation()
    result: list[list[tuple[str, dict[str, Any]]]] = []
    sender = threading.Thread(target=lambda: result.append(_turn(chat, cid, "hello")))
    sender.start()
    # WHEN the first turn waits on the warm-up (5 s more from here)
    deadline = time.monotonic() + 30
    while not chat.app.state.chat.active_turns():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    gateway.turn_waiting.set()
    sender.join(300)  # a hang guard
    done = result[0][-1][1]
    assert done["status"] == "complete", (done.get("code"), done.get("message"))
    # THEN the reply's TTFT and the logged event's are the provider's delay, without the warm-up: a TTFT
    # that counted it would be at least delay + warm-up, so that is the bound (not a guess at the
    # machine's speed: a loaded box may add seconds to the 0.3 s and still pass)
    counted_warm_up = 0.3 + gateway.slow_s
    assert 300 <= done["ttft_ms"] < counted_warm_up * 1000, done
    event = ingest.wait_for(lambda e: e.get("message_id") == done["message_id"])
    first, start = _seconds(event["ts_first_token"]), _seconds(event["ts_start"])
    assert 0.3 <= first - start < counted_warm_up, event


def test_an_openai_compatible_endpoint_is_logged_as_itself(chat: ChatApi, fake: FakeOpenAI, ingest: Ingest) -> None:
    chat.configure_fake(fake)
    cid = chat.new_conversation()
    done = _turn(chat, cid, "hello")[-1][1]
    event = ingest.wait_for(lambda e: e.get("message_id") == done["message_id"])
    assert (event["provider"], event["model"]) == ("openai_compatible", "fake-model")
    assert event["metadata"]["chat_provider"] == "openai_compatible"


def test_after_a_failed_turn_the_next_request_alternates_user_and_assistant(chat: ChatApi, fake: FakeOpenAI) -> None:
    chat.configure_fake(fake)
    cid = chat.new_conversation()
    # GIVEN a turn the provider failed, then a Retry (the same message) and a new message
    fake.enqueue(Behaviour(error_status=500), Behaviour(text="Paris."), Behaviour(text="2.1 million."))
    assert _turn(chat, cid, "Capital of France?")[-1][0] == "error"
    assert _turn(chat, cid, "Capital of France?")[-1][1]["status"] == "complete"
    assert _turn(chat, cid, "Population?")[-1][1]["status"] == "complete"
    # THEN every request the provider received alternated user and assistant, the retry sent once
    retry, after = (r.body["messages"] for r in fake.chat_requests[-2:])
    assert retry == [{"role": "user", "content": "Capital of France?"}]
    assert after == [
        {"role": "user", "content": "Capital of France?"},
        {"role": "assistant", "content": "Paris."},
        {"role": "user", "content": "Population?"},
    ]
    # ... and the failed turn is still shown
    statuses = [(m["role"], m["status"]) for m in chat.messages(cid)]
    assert statuses[:2] == [("user", "complete"), ("assistant", "error")] and len(statuses) == 6


def test_after_a_failed_turn_a_different_message_is_merged_with_the_failed_one(chat: ChatApi, fake: FakeOpenAI) -> None:
    chat.configure_fake(fake)
    cid = chat.new_conversation()
    fake.enqueue(Behaviour(error_status=500), Behaviour(text="ok"))
    _turn(chat, cid, "first")
    _turn(chat, cid, "second")
    assert fake.chat_requests[-1].body["messages"] == [{"role": "user", "content": "first\n\nsecond"}]


@pytest.mark.parametrize(
    ("behaviour", "expected"),
    [
        (Behaviour(error_status=500), "answered 500 Internal Server Error"),
        (Behaviour(error_status=401), "refused the API key (401)"),
        (Behaviour(error_status=503, error_body={"error": {"message": "overloaded, try later"}}), "overloaded"),
    ],
    ids=["500", "401", "503-with-reason"],
)
def test_provider_errors_read_without_litellms_internals(
    chat: ChatApi, fake: FakeOpenAI, behaviour: Behaviour, expected: str
) -> None:
    fake.behaviour = behaviour
    chat.configure_fake(fake)
    cid = chat.new_conversation()
    kind, data = _turn(chat, cid, "hi")[-1]
    assert kind == "error" and expected in data["message"], data
    for internal in ("litellm", "Exception", "InternalServerError", "APIError"):
        assert internal not in data["message"], data["message"]
