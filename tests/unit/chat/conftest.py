"""Unit fixtures for the chat: in-memory stores, a scripted model gateway (no network), and a client
signed in as an admin (the chat needs a session: ``tests.support.auth``)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import pytest
from chat.app import create_app
from chat.config import ChatSettings
from chat.errors import ProviderCallError
from chat.gateway import CallOutcome, ModelCall, ModelStream
from cryptography.fernet import Fernet
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prism.adapters.memory import InMemoryChatStore, MemoryIdentityStore
from prism.identity.service import IdentityService

from tests.support.auth import signed_in, test_identity


@dataclass
class Script:
    """What the fake model does for one call."""

    chunks: list[str] = field(default_factory=lambda: ["Hel", "lo", "!"])
    hang_after: int | None = None  # wait (until cancelled) after this many chunks
    fail_on_open: ProviderCallError | None = None
    fail_after: tuple[int, ProviderCallError] | None = None


class FakeStream:
    def __init__(self, script: Script) -> None:
        self.script = script
        self.closed = False
        self.outcome = CallOutcome(
            prompt_tokens=5,
            completion_tokens=len(script.chunks),
            total_tokens=5 + len(script.chunks),
            cost_usd=0.00042,
            finish_reason="stop",
            inference_event_id=uuid.uuid4(),
        )

    def __aiter__(self) -> AsyncIterator[str]:
        return self._gen()

    async def _gen(self) -> AsyncIterator[str]:
        for i, chunk in enumerate(self.script.chunks):
            if self.script.hang_after is not None and i == self.script.hang_after:
                await asyncio.sleep(3600)
            if self.script.fail_after is not None and i == self.script.fail_after[0]:
                raise self.script.fail_after[1]
            await asyncio.sleep(0)
            yield chunk

    async def aclose(self) -> None:
        self.closed = True


class FakeGateway:
    """A scripted model gateway: no provider reached, no SDK, nothing to flush or warm."""

    uses_sdk = False

    def __init__(self) -> None:
        self.calls: list[ModelCall] = []
        self.streams: list[FakeStream] = []
        self.scripts: list[Script] = []
        self.default = Script()

    async def flush(self) -> None:
        return None

    def warm_in_background(self) -> None:
        return None

    async def ready(self) -> None:
        return None

    async def stream(self, call: ModelCall) -> ModelStream:
        self.calls.append(call)
        script = self.scripts.pop(0) if self.scripts else self.default
        if script.fail_on_open is not None:
            raise script.fail_on_open
        stream = FakeStream(script)
        self.streams.append(stream)
        return stream


class FakeDemo:
    base_url = "http://127.0.0.1:9/v1"


CREDS_KEY = Fernet.generate_key().decode()


def make_settings(**overrides: object) -> ChatSettings:
    values: dict[str, object] = {"env": "test", "creds_key": CREDS_KEY}
    values.update(overrides)
    return ChatSettings(**values)  # type: ignore[arg-type]


def memory_identity() -> IdentityService:
    """An identity service on the in-memory fake, for an app under test (``create_app(identity=...)``)."""
    return test_identity(MemoryIdentityStore())


@pytest.fixture
def identity() -> IdentityService:
    return memory_identity()


@pytest.fixture
def store() -> InMemoryChatStore:
    return InMemoryChatStore()


@pytest.fixture
def gateway() -> FakeGateway:
    return FakeGateway()


@pytest.fixture
def app(store: InMemoryChatStore, gateway: FakeGateway, identity: IdentityService) -> FastAPI:
    return create_app(
        make_settings(),
        store=store,
        credential_store=store,
        gateway=gateway,
        demo=FakeDemo(),  # type: ignore[arg-type]
        identity=identity,
    )


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """Signed in as an admin (who may also change the providers)."""
    with signed_in(TestClient(app), app.state.identity) as c:
        yield c


def parse_sse(text: str) -> list[tuple[str, dict[str, object]]]:
    import json

    events: list[tuple[str, dict[str, object]]] = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in lines:
            events.append((lines["event"], json.loads(lines["data"])))
    return events
