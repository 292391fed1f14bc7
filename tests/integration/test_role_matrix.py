"""Every route of every API has an owner (issue 11 §4, §5): each route of the ingestion, query, chat
and identity apps, enumerated from ``app.routes``, called as each kind of caller, answers the status
of its row in ``MATRIX``. A route without a row fails ``test_every_route_has_a_row`` (and a row
without a route too): a new route is decided here, not by default.

The callers: anonymous; a viewer, a member and an admin signed in (the ``prism_session`` cookie, and
``X-CSRF-Token`` on state changes); a member's personal read token; an ingestion key. Each cell gets
fresh credentials and a fresh target (a user, a key, a dashboard, a conversation), so no cell depends
on another; the apps run on the real PostgreSQL and Redis.

What the matrix says, route by route:
- ``/healthz`` is open and says only ``{"status": "ok"}``; ``/readyz`` is open and names no address,
  DSN or key (``test_readiness_reveals_nothing_to_anonymous_callers`` also with its parts down).
- The API documents (``/docs``, ``/redoc``, ``/openapi.json`` and their assets) are open: they
  describe the routes, which are public knowledge (the code is open source), and hold no data.
- Ingestion: ``POST /v1/events`` only with an ingestion key (a session or a read token: 401).
- Query: reads for any signed-in role and read tokens; dashboards are written by members and admins.
- Chat: sessions only (a read token is for the query API: 403); turns, conversation writes and
  cancels need a member; a viewer may list and read (their own, so nothing unless they were a
  member once); models and the provider list for members (keys never shown, their last four
  characters only to admins); provider writes for admins.
- Identity: sign-in routes open; the session routes for any signed-in user (a read token may read
  its session, not end it); users, keys, the audit log and project/settings writes for admins.
- An ingestion key is refused everywhere but ``POST /v1/events``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from chat.app import create_app as create_chat_app
from chat.model import MessageOutcome
from chat.providers import Providers
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from identity.app import create_app as create_identity_app
from ingestion.app import create_app as create_ingestion_app
from prism.adapters.files import FileRawPayloadStore
from prism.adapters.postgres import PostgresLogStore
from prism.adapters.postgres_chat import PostgresChatStore
from prism.adapters.postgres_identity import PostgresIdentityStore
from prism.adapters.postgres_query import PostgresQueryStore
from prism.adapters.redis_streams import RedisStreamsBus
from prism.config import Settings
from prism.identity.model import Role
from prism.identity.service import IdentityService
from prism.ingest import Ingestor
from prism.records import to_row
from prism.redact import RegexRedactor
from query.app import create_app as create_query_app
from starlette.routing import Mount

from tests.conftest import REDIS_URL
from tests.support.auth import ANONYMOUS, PASSWORD, Caller, Callers, run, test_identity
from tests.unit.chat.conftest import FakeDemo, FakeGateway, make_settings

EVENT = json.loads((Path(__file__).resolve().parents[1] / "events" / "minimal.json").read_text())
ENV_KEY = "env-ingestion-key-0123456789"
PRINCIPALS = ("anonymous", "viewer", "member", "admin", "read_token", "ingest_key")


# --- the matrix ---------------------------------------------------------------------------------


def codes(anonymous: int, viewer: int, member: int, admin: int, read_token: int, ingest_key: int) -> dict[str, int]:
    return dict(zip(PRINCIPALS, (anonymous, viewer, member, admin, read_token, ingest_key), strict=True))


OPEN = codes(200, 200, 200, 200, 200, 200)
READ = codes(401, 200, 200, 200, 200, 403)  # any signed-in role, a read token too


def member_writes(ok: int) -> dict[str, int]:
    return codes(401, 403, ok, ok, 403, 403)


def admin_only(ok: int) -> dict[str, int]:
    return codes(401, 403, 403, ok, 403, 403)


def signed_in_writes(ok: int) -> dict[str, int]:
    return codes(401, ok, ok, ok, 403, 403)


CHAT_READ = codes(401, 200, 200, 200, 403, 403)  # any signed-in role; no read token, no ingestion key


@dataclass
class Call:
    path: str
    json: Any = None
    params: dict[str, Any] | None = None


@dataclass
class World:
    """What the cells' targets are made with."""

    callers: Callers
    identity: IdentityService
    dashboards: PostgresQueryStore
    log_id: uuid.UUID
    chat: PostgresChatStore
    chat_app: Any = None  # set by ``apps``

    def user(self, role: str = "member") -> Any:
        return self.callers.user(role)

    def dashboard(self) -> uuid.UUID:
        name = f"matrix-{uuid.uuid4().hex[:8]}"  # dashboard names are unique per owner (migration 011)
        made = self.dashboards.save_dashboard(uuid.uuid4(), name, {"window": "1h", "panels": []}, create=True)
        assert made is not None
        return made.id

    def owner(self, caller: Caller) -> uuid.UUID:
        """The caller's user (a new member for callers without one)."""
        return caller.user.id if caller.user is not None else self.user().id

    def conversation(self, caller: Caller) -> uuid.UUID:
        """A conversation of the caller's user."""
        return self.chat.create_conversation(uuid.uuid4(), "matrix", owner=self.owner(caller)).id

    def reply(self, caller: Caller) -> str:
        """``/api/conversations/{id}/messages/{message_id}``: a reply that has ended, in a conversation
        of the caller's user."""
        owner = self.owner(caller)
        cid = self.chat.create_conversation(uuid.uuid4(), "matrix", owner=owner).id
        start = self.chat.begin_turn(
            cid, uuid.uuid4(), uuid.uuid4(), "hi", "demo/prism-demo", "demo", "hi", owner=owner
        )
        self.chat.finish_message(start.assistant_message.id, MessageOutcome(status="complete", content="hello"))
        return f"/api/conversations/{cid}/messages/{start.assistant_message.id}"


Prepare = Callable[[World, Caller], Call]


@dataclass
class Row:
    expect: dict[str, int]
    call: Prepare | str | None = None  # None: the route's own path
    check: Callable[[Any], None] | None = None  # on every answer, e.g. what /readyz may say


def _fixed(call: Prepare | str | None, path: str) -> Prepare:
    if callable(call):
        return call
    text = call or path
    return lambda _w, _c: Call(text)


def health_body(resp: Any) -> None:
    assert resp.json() == {"status": "ok"}


SECRETS_AND_ADDRESSES = (
    "127.0.0.1",
    "localhost",
    "postgresql://",
    "postgres@",
    "redis://",
    ":5432",
    ":6379",
    ENV_KEY,
    "prism_ik_",
    "prism_rt_",
    "password",
)


def reveals_nothing(resp: Any) -> None:
    assert resp.status_code in (200, 503)
    for needle in SECRETS_AND_ADDRESSES:
        assert needle not in resp.text, (needle, resp.text)


DOCS = {
    "GET /openapi.json": Row(OPEN),
    "GET /docs": Row(OPEN),
    "GET /redoc": Row(OPEN),
    "MOUNT /docs/fastapi": Row(OPEN, "/docs/fastapi/favicon.png"),
    "MOUNT /docs": Row(OPEN, "/docs/swagger-ui.css"),
    "MOUNT /redoc": Row(OPEN, "/redoc/logo-mini.svg"),
}


def _fresh_login(w: World, _c: Caller) -> Call:
    return Call("/api/auth/login", {"email": w.user("viewer").email, "password": PASSWORD})


def _fresh_invite(w: World, _c: Caller) -> Call:
    admin = w.callers._admin_principal()
    invitation = run(w.identity.invite_user(admin, f"invited-{uuid.uuid4().hex[:8]}@example.com", "member"))
    return Call("/api/auth/invite/accept", {"token": invitation.invite_token, "password": "a-new-password-1"})


def _own_password(_w: World, _c: Caller) -> Call:
    return Call("/api/auth/password", {"current_password": PASSWORD, "new_password": "another-password-1"})


def _a_user(w: World, _c: Caller) -> str:
    return f"/api/users/{w.user('viewer').id}"


def _a_key(w: World, _c: Caller) -> str:
    key, _ = run(w.identity.create_key(w.callers._admin_principal(), "read", "target", user_id=w.user().id))
    return f"/api/keys/{key.id}"


def _a_project(w: World, _c: Caller) -> str:
    slug = f"p-{uuid.uuid4().hex[:10]}"
    run(w.identity.create_project(w.callers._admin_principal(), slug, "Target"))
    return f"/api/projects/{slug}"


IDENTITY = {
    "GET /healthz": Row(OPEN, check=health_body),
    "POST /api/auth/login": Row(OPEN, _fresh_login),
    "POST /api/auth/invite/accept": Row(OPEN, _fresh_invite),
    "GET /api/auth/session": Row(codes(401, 200, 200, 200, 200, 403)),
    "POST /api/auth/logout": Row(signed_in_writes(204)),
    "POST /api/auth/logout-everywhere": Row(signed_in_writes(204)),
    "POST /api/auth/password": Row(signed_in_writes(200), _own_password),
    "GET /api/auth/providers": Row(OPEN),
    # Single sign-on is off here: its routes answer the same to everyone (they need no session).
    "GET /api/auth/oidc/login": Row(codes(*(404,) * 6)),
    "GET /api/auth/oidc/callback": Row(codes(*(404,) * 6), "/api/auth/oidc/callback?code=c&state=s"),
    "GET /api/users": Row(admin_only(200)),
    "POST /api/users": Row(
        admin_only(201), lambda _w, _c: Call("/api/users", {"email": f"u-{uuid.uuid4().hex[:8]}@example.com"})
    ),
    "PATCH /api/users/{user_id}": Row(admin_only(200), lambda w, c: Call(_a_user(w, c), {"name": "Renamed"})),
    "DELETE /api/users/{user_id}": Row(admin_only(204), lambda w, c: Call(_a_user(w, c))),
    "GET /api/keys": Row(admin_only(200)),
    "POST /api/keys": Row(
        admin_only(201), lambda _w, _c: Call("/api/keys", {"kind": "ingest", "name": "k", "project": "default"})
    ),
    "DELETE /api/keys/{key_id}": Row(admin_only(204), lambda w, c: Call(_a_key(w, c))),
    "GET /api/projects": Row(READ),
    "POST /api/projects": Row(
        admin_only(201), lambda _w, _c: Call("/api/projects", {"slug": f"n-{uuid.uuid4().hex[:8]}", "name": "N"})
    ),
    "PATCH /api/projects/{slug}": Row(admin_only(200), lambda w, c: Call(_a_project(w, c), {"name": "Renamed"})),
    "DELETE /api/projects/{slug}": Row(admin_only(204), lambda w, c: Call(_a_project(w, c))),
    "GET /api/config/chat-project": Row(READ),
    "PUT /api/config/chat-project": Row(
        admin_only(200), lambda _w, _c: Call("/api/config/chat-project", {"project": "chat"})
    ),
    "GET /api/audit": Row(admin_only(200)),
    **DOCS,
}

INGESTION = {
    # Only an ingestion key (or PRISM_API_KEY) sends events: a session or a read token is no key (401).
    "POST /v1/events": Row(
        codes(401, 401, 401, 401, 401, 202),
        lambda _w, _c: Call("/v1/events", {"events": [{**EVENT, "id": str(uuid.uuid4())}]}),
    ),
    "GET /healthz": Row(OPEN, check=health_body),
    "GET /readyz": Row(OPEN, check=reveals_nothing),
    **DOCS,
}

SPEC = {"window": "1h", "panels": []}
QUERY = {
    "GET /healthz": Row(OPEN, check=health_body),
    "GET /api/metrics/summary": Row(READ),
    "GET /api/metrics/timeseries": Row(READ),
    "GET /api/logs": Row(READ),
    "GET /api/logs/{log_id}": Row(READ, lambda w, _c: Call(f"/api/logs/{w.log_id}")),
    # Dashboards are the team's: every signed-in role reads them, members and admins write them.
    "GET /api/dashboards": Row(READ),
    "POST /api/dashboards": Row(
        member_writes(201), lambda _w, _c: Call("/api/dashboards", {"name": "d", "spec": SPEC})
    ),
    "GET /api/dashboards/{dashboard_id}": Row(READ, lambda w, _c: Call(f"/api/dashboards/{w.dashboard()}")),
    "PUT /api/dashboards/{dashboard_id}": Row(
        member_writes(200),
        lambda w, _c: Call(f"/api/dashboards/{w.dashboard()}", {"name": f"e-{uuid.uuid4().hex[:8]}", "spec": SPEC}),
    ),
    "DELETE /api/dashboards/{dashboard_id}": Row(
        member_writes(204), lambda w, _c: Call(f"/api/dashboards/{w.dashboard()}")
    ),
    **DOCS,
}


async def _no_discovery(_self: Providers, base_url: str, _api_key: str | None) -> tuple[None, str]:
    return None, f"could not list models at {base_url}: offline"


def _conv(suffix: str = "", body: Any = None) -> Prepare:
    return lambda w, c: Call(f"/api/conversations/{w.conversation(c)}{suffix}", body)


def _configured(w: World, _c: Caller) -> Call:
    """A provider that is configured, to remove."""
    providers: Providers = w.chat_app.state.providers
    run(providers.put("openai_compatible", api_key=None, base_url="http://127.0.0.1:9/v1", models=["m"]))
    return Call("/api/settings/providers/openai_compatible")


PROVIDER = {"base_url": "http://127.0.0.1:9/v1", "models": ["m"], "api_key": "sk-matrix-0123456789-abcd"}
CHAT = {
    "GET /healthz": Row(OPEN, check=health_body),
    "GET /readyz": Row(OPEN, check=reveals_nothing),
    # Conversations are their user's (another's is 404: tests/integration/chat/test_conversation_owner.py).
    "GET /api/conversations": Row(CHAT_READ),
    "POST /api/conversations": Row(member_writes(201), lambda _w, _c: Call("/api/conversations", {})),
    "GET /api/conversations/{conversation_id}": Row(CHAT_READ, _conv()),
    "PATCH /api/conversations/{conversation_id}": Row(member_writes(200), _conv(body={"title": "Renamed"})),
    "DELETE /api/conversations/{conversation_id}": Row(member_writes(204), _conv()),
    "POST /api/conversations/{conversation_id}/messages": Row(
        member_writes(200), _conv("/messages", {"content": "hi", "model": "demo/prism-demo"})
    ),
    "GET /api/conversations/{conversation_id}/messages/{message_id}/stream": Row(
        CHAT_READ, lambda w, c: Call(w.reply(c) + "/stream")
    ),
    "POST /api/conversations/{conversation_id}/cancel": Row(member_writes(200), _conv("/cancel", {})),
    # Models and providers for those who chat; only admins change providers (and see a key's last four).
    "GET /api/models": Row(codes(401, 403, 200, 200, 403, 403)),
    "GET /api/settings/providers": Row(codes(401, 403, 200, 200, 403, 403)),
    "PUT /api/settings/providers/{provider}": Row(
        admin_only(200), lambda _w, _c: Call("/api/settings/providers/openai_compatible", PROVIDER)
    ),
    "DELETE /api/settings/providers/{provider}": Row(admin_only(204), _configured),
    **DOCS,
}

MATRIX: dict[str, dict[str, Row]] = {
    "identity": IDENTITY,
    "ingestion": INGESTION,
    "query": QUERY,
    "chat": CHAT,
}


# --- the apps -----------------------------------------------------------------------------------


def route_keys(app: FastAPI) -> set[str]:
    """``METHOD /path`` of every route (HEAD, which Starlette adds to GET routes, left out) and
    ``MOUNT /path`` of every mount."""
    keys: set[str] = set()
    for ctx in iter_route_contexts(app.routes):
        route = ctx.route
        if isinstance(route, Mount):
            keys.add(f"MOUNT {route.path}")
            continue
        for method in ctx.methods or ():
            if method != "HEAD":
                keys.add(f"{method} {ctx.path}")
    return keys


@pytest.fixture(scope="module")
def world(database_url: str) -> Iterator[World]:
    store = PostgresIdentityStore(database_url)
    identity = test_identity(store)
    query_store = PostgresQueryStore(database_url)
    now = datetime.now(UTC)
    event = {
        **EVENT,
        "id": str(uuid.uuid4()),
        "ts_start": (now - timedelta(seconds=1)).isoformat(),
        "ts_end": now.isoformat(),
    }
    row = to_row({"created_at": now.isoformat(), "redactions": {}, "raw_payload_uri": None}, event)
    logs = PostgresLogStore(database_url)
    logs.maintain()
    logs.write([row])
    logs.close()
    chat = PostgresChatStore(database_url)
    yield World(Callers(identity), identity, query_store, uuid.UUID(event["id"]), chat)
    chat.close()
    query_store.close()
    store.close()


@pytest.fixture(scope="module")
def stream() -> Iterator[str]:
    name = f"prism-test:{uuid.uuid4().hex[:12]}:inference.logged"
    yield name
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(match=name.split(":inference")[0] + ":*"):
        client.delete(key)
    client.close()


@pytest.fixture(scope="module")
def apps(
    world: World, database_url: str, stream: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, FastAPI]]:
    redis_url = REDIS_URL
    raw = FileRawPayloadStore(str(tmp_path_factory.mktemp("raw")))
    settings = Settings(env="test", database_url=database_url, redis_url=redis_url, stream=stream, api_key=ENV_KEY)
    built = {
        "identity": create_identity_app(settings, identity=world.identity),
        "ingestion": create_ingestion_app(
            settings, Ingestor(RedisStreamsBus(redis_url, stream, 1000), RegexRedactor(), raw)
        ),
        "query": create_query_app(
            settings, store=world.dashboards, dashboards=world.dashboards, raw_store=raw, identity=world.identity
        ),
        "chat": create_chat_app(
            make_settings(database_url=database_url),
            store=world.chat,
            credential_store=world.chat,
            gateway=FakeGateway(),  # a scripted model: turns reach no provider
            demo=FakeDemo(),  # type: ignore[arg-type]
            identity=world.identity,
        ),
    }
    world.chat_app = built["chat"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Providers, "_discover", _no_discovery)  # a provider's base URL is not fetched
        yield built
    for turn in built["chat"].state.chat.active_turns():
        turn.cancel("shutdown")


def caller_for(world: World, principal: str) -> Caller:
    if principal == "anonymous":
        return ANONYMOUS
    if principal == "read_token":
        return world.callers.read_token(Role.member)
    if principal == "ingest_key":
        return world.callers.ingest_key("default")
    return world.callers.session(principal)


def send(app: FastAPI, method: str, call: Call, caller: Caller) -> Any:
    client = caller.on(TestClient(app, raise_server_exceptions=False))
    if method in ("GET", "DELETE"):
        return client.request(method, call.path, params=call.params)
    return client.request(method, call.path, json=call.json if call.json is not None else {}, params=call.params)


# --- the tests ----------------------------------------------------------------------------------


def test_every_route_has_a_row(apps: dict[str, FastAPI]) -> None:
    for name, app in apps.items():
        routes, rows = route_keys(app), set(MATRIX[name])
        assert routes - rows == set(), f"{name}: new routes without a row in MATRIX"
        assert rows - routes == set(), f"{name}: rows of routes that no longer exist"


CELLS = [(app, key, principal) for app, rows in MATRIX.items() for key in rows for principal in PRINCIPALS]


@pytest.mark.parametrize(("app_name", "route", "principal"), CELLS, ids=[f"{a}:{r}:{p}" for a, r, p in CELLS])
def test_each_caller_gets_the_status_of_its_cell(
    apps: dict[str, FastAPI], world: World, app_name: str, route: str, principal: str
) -> None:
    row = MATRIX[app_name][route]
    method, path = route.split(" ", 1)
    caller = caller_for(world, principal)
    call = _fixed(row.call, path)(world, caller)
    resp = send(apps[app_name], "GET" if method == "MOUNT" else method, call, caller)
    assert resp.status_code == row.expect[principal], resp.text[:500]
    if row.check is not None:
        row.check(resp)
    if resp.status_code in (401, 403):
        assert resp.json()["error"]["code"] in {"unauthenticated", "unauthorized", "forbidden"}, resp.text


def _guarded(rows: dict[str, Row]) -> list[str]:
    return [k for k, r in rows.items() if "{" in k and r.expect["anonymous"] == 401]


MISSING = [(a, k) for a, rows in MATRIX.items() for k in _guarded(rows)]


@pytest.mark.parametrize(("app_name", "route"), MISSING, ids=[f"{a}:{k}" for a, k in MISSING])
def test_a_guarded_route_judges_the_caller_before_the_id(
    apps: dict[str, FastAPI], world: World, app_name: str, route: str
) -> None:
    """A missing or malformed id is 401 to anonymous callers and 403 to too low a role, never a 404 or
    422 that would tell them what exists."""
    method, path = route.split(" ", 1)
    row = MATRIX[app_name][route]
    body = {"name": "x", "spec": SPEC, "title": "x", "content": "x"}
    for value in (str(uuid.uuid4()), "not-an-id"):
        filled = path.replace(path[path.index("{") : path.index("}") + 1], value)
        resp = send(apps[app_name], method, Call(filled, body), ANONYMOUS)
        assert resp.status_code == 401, (filled, resp.text)
        low = next((p for p in ("viewer", "member") if row.expect[p] == 403), None)
        if low is not None:
            resp = send(apps[app_name], method, Call(filled, body), caller_for(world, low))
            assert resp.status_code == 403, (low, filled, resp.text)


def test_readiness_reveals_nothing_to_anonymous_callers(database_url: str, tmp_path: Path) -> None:
    """With its parts down, /readyz says which part (503), not where it is nor how it is reached."""
    dead_redis = "redis://127.0.0.1:1/0"
    settings = Settings(env="test", database_url=database_url, redis_url=dead_redis, api_key=ENV_KEY)
    ingestion = create_ingestion_app(
        settings, Ingestor(RedisStreamsBus(dead_redis, "s", 10), RegexRedactor(), FileRawPayloadStore(str(tmp_path)))
    )
    resp = TestClient(ingestion).get("/readyz")
    assert resp.status_code == 503 and resp.json()["error"]["code"] == "not_ready"
    reveals_nothing(resp)
    assert ":1/" not in resp.text
