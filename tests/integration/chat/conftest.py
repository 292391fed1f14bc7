"""Integration fixtures for the chat: the real app on uvicorn (in a thread), real PostgreSQL, real
LiteLLM through prism-sdk, the fake OpenAI-compatible server, and a capture server standing in
for the ingestion API so the SDK's events can be checked."""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg
import pytest
from chat.app import create_app
from chat.config import ChatSettings
from cryptography.fernet import Fernet
from fastapi import FastAPI, Request, Response
from prism.adapters.postgres_identity import PostgresIdentityStore
from prism.identity.service import IdentityService

from tests.support.auth import Caller, Callers, test_identity
from tests.support.fake_openai import FakeOpenAI
from tests.support.net import ThreadServer

CREDS_KEY = Fernet.generate_key().decode()


@dataclass
class Ingest:
    """Stands in for the ingestion API: records the events prism-sdk ships."""

    events: list[dict[str, Any]] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    url: str = ""

    def wait_for(self, pred: Any, timeout: float = 10.0) -> dict[str, Any]:
        import prism_sdk

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            prism_sdk.flush()
            for ev in list(self.events):
                if pred(ev):
                    return ev
            time.sleep(0.05)
        raise AssertionError(f"no matching event among {len(self.events)}: {self.events[-3:]}")


@pytest.fixture(scope="module")
def ingest() -> Iterator[Ingest]:
    import prism_sdk

    state = Ingest()
    app = FastAPI()

    @app.post("/{path:path}")
    async def receive(request: Request) -> Response:
        raw = await request.body()
        if request.headers.get("content-encoding") == "gzip":
            raw = gzip.decompress(raw)
        state.bodies.append(raw)
        events = json.loads(raw).get("events", [])
        state.events.extend(events)
        return Response(json.dumps({"accepted": len(events)}), status_code=202, media_type="application/json")

    with ThreadServer(app) as server:
        state.url = server.url
        prism_sdk.init(ingest_url=server.url, api_key="ingest-test-key", flush_interval=0.05)
        yield state
        prism_sdk.flush()
        prism_sdk.init()  # back to the default client from the environment


@pytest.fixture(scope="session")
def fake_server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def fake(fake_server: FakeOpenAI) -> FakeOpenAI:
    fake_server.reset()
    return fake_server


@pytest.fixture
def chat_db(database_url: str) -> str:
    """The session database with the chat's tables emptied."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("TRUNCATE conversations, messages, provider_credentials")
    return database_url


def chat_settings(database_url: str, **overrides: Any) -> ChatSettings:
    values: dict[str, Any] = {
        "env": "test",
        "database_url": database_url,
        "creds_key": CREDS_KEY,
        "chat_timeout_s": 20.0,
        "chat_read_timeout_s": 5.0,
        "chat_cancel_poll_s": 0.2,
    }
    values.update(overrides)
    return ChatSettings(**values)


@dataclass
class ChatApi:
    """One chat instance and a client signed in as the test's admin (the same user on every
    instance of a test: conversations are their user's)."""

    url: str
    app: FastAPI
    client: httpx.Client
    callers: Callers
    caller: Caller  # who ``client`` is: the test's admin

    def client_as(self, caller: Caller) -> httpx.Client:
        """Another client of this instance, as ``caller`` (closed with the instance)."""
        client = caller.on(httpx.Client(base_url=self.url, timeout=30))
        self.app.state.test_clients.append(client)
        return client

    def configure_fake(self, fake: FakeOpenAI, api_key: str | None = "sk-fake-key-for-tests-0001") -> None:
        body: dict[str, Any] = {"base_url": fake.base_url}
        if api_key is not None:
            body["api_key"] = api_key
        resp = self.client.put("/api/settings/providers/openai_compatible", json=body)
        assert resp.status_code == 200, resp.text

    def new_conversation(self) -> str:
        return str(self.client.post("/api/conversations", json={}).json()["id"])

    def messages(self, cid: str) -> list[dict[str, Any]]:
        return list(self.client.get(f"/api/conversations/{cid}").json()["messages"])


@pytest.fixture
def chat_identity(chat_db: str) -> Iterator[IdentityService]:
    """The identity service the test's chat instances share (users and sessions on PostgreSQL)."""
    store = PostgresIdentityStore(chat_db)
    yield test_identity(store)
    store.close()


@pytest.fixture
def make_chat(chat_db: str, chat_identity: IdentityService) -> Iterator[Any]:
    started: list[tuple[ThreadServer, FastAPI, httpx.Client]] = []
    callers = Callers(chat_identity)
    admin: list[Caller] = []

    def make(**overrides: Any) -> ChatApi:
        app = create_app(chat_settings(chat_db, **overrides), identity=chat_identity)
        app.state.test_clients = []
        server = ThreadServer(app).__enter__()
        if not admin:
            admin.append(callers.session("admin"))
        client = admin[0].on(httpx.Client(base_url=server.url, timeout=30))
        started.append((server, app, client))
        return ChatApi(server.url, app, client, callers, admin[0])

    yield make
    for server, app, client in started:
        client.close()
        for other in app.state.test_clients:
            other.close()
        server.__exit__()
        app.state.chat.store.close()
        if app.state.demo is not None:
            app.state.demo.stop()


@pytest.fixture
def chat(make_chat: Any) -> ChatApi:
    return make_chat()  # type: ignore[no-any-return]


def read_sse(lines: Iterator[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(event, data) pairs from an SSE line iterator, as they arrive."""
    event: str | None = None
    for line in lines:
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: ") and event is not None:
            yield event, json.loads(line[6:])
            event = None
