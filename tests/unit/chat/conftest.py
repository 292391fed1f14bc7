"""Unit fixtures for the chat: in-memory stores and a scripted model gateway (no network)."""

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
from prism.adapters.memory import InMemoryChatStore


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


@pytest.fixture
def store() -> InMemoryChatStore:
    return InMemoryChatStore()


@pytest.fixture
def gateway() -> FakeGateway:
    return FakeGateway()


@pytest.fixture
def app(store: InMemoryChatStore, gateway: FakeGateway) -> FastAPI:
    return create_app(
        make_settings(),
        store=store,
        credential_store=store,
        gateway=gateway,
        demo=FakeDemo(),  # type: ignore[arg-type]
    )


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


def parse_sse(text: str) -> list[tuple[str, dict[str, object]]]:
    import json

    events: list[tuple[str, dict[str, object]]] = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in lines:
            events.append((lines["event"], json.loads(lines["data"])))
    return events
