"""Property-based fuzzing of both HTTP APIs with schemathesis, in-process (ASGI, no network).

For every operation of the ingestion API (real Redis, in-memory raw store) and of the chat API
(real PostgreSQL store, scripted model gateway, no provider reached), schemathesis generates valid
and invalid requests from the app's own OpenAPI document, with and without the ingestion key, and
checks that

- nothing answers 5xx (the documented 503s need a dependency that is down, which never happens here);
- every 4xx has the JSON error shape ``{"error": {"code", "message"}}``;
- status codes, content types and JSON bodies conform to the declared responses;
- invalid input is rejected with a 4xx;
- no secret (ingestion key, credentials key, a provider key just sent) is echoed back.

Targeted tests add what generation alone rarely reaches: valid events with a few fields broken,
tampered page cursors, NUL and other awkward characters, models and providers that exist.

Bounded and deterministic: a fixed seed, derandomized Hypothesis, no example database, at most
``MAX_EXAMPLES`` fuzzed examples per operation (plus schemathesis' deterministic coverage cases);
about 15 s on two cores.
"""

from __future__ import annotations

import base64
import functools
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, timedelta, timezone
from typing import Any

import anyio
import pytest
import schemathesis
from chat.app import create_app as create_chat_app
from chat.catalog import PROVIDERS
from chat.providers import Providers
from hypothesis import strategies as st
from ingestion.app import create_app as create_ingestion_app
from prism.adapters.memory import MemoryRawPayloadStore
from prism.adapters.postgres_chat import PostgresChatStore
from prism.adapters.postgres_identity import PostgresIdentityStore
from prism.adapters.redis_streams import RedisStreamsBus
from prism.auth import SESSION_COOKIE
from prism.config import Settings
from prism.ingest import Ingestor
from prism.redact import RegexRedactor
from schemathesis import Case, CheckContext, GenerationMode, Response
from schemathesis.checks import not_a_server_error
from schemathesis.config import HealthCheck, SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import REDIS_URL
from tests.integration.pipeline.conftest import make_event
from tests.support.auth import Callers, test_identity
from tests.unit.chat.conftest import CREDS_KEY, FakeDemo, FakeGateway, make_settings

MAX_EXAMPLES = 40
SEED = 20_240_611
INGEST_KEY = "fuzz-ingest-key-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {INGEST_KEY}"}
PROVIDER_KEY = "sk-fuzz-0123456789abcdefghijklmnopqrstuvwxyz"  # stored for "openai" before the chat tests


def _config(*modes: GenerationMode) -> SchemathesisConfig:
    config = SchemathesisConfig(seed=SEED)
    config.projects.default.generation.update(
        modes=list(modes or (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)),
        max_examples=MAX_EXAMPLES,
        deterministic=True,
        database="none",
    )
    # The only timing-dependent health check: a slow CI machine must not fail the run.
    config.projects.default.suppress_health_check = [HealthCheck.too_slow]
    # Too many events is invalid input the ingestion API refuses with 413, as documented.
    rejection = config.projects.default.checks.negative_data_rejection
    rejection.expected_statuses = [*rejection.expected_statuses, "413"]
    return config


# --- checks ---------------------------------------------------------------------------------------


def json_error_shape(_ctx: CheckContext, response: Response, _case: Case) -> bool | None:
    """Every 4xx is JSON ``{"error": {"code": str, "message": str}}`` with a non-empty message."""
    if not 400 <= response.status_code < 500:
        return None
    content_type = response.headers.get("content-type", [""])[0]
    assert content_type.startswith("application/json"), f"{response.status_code} is {content_type!r}, not JSON"
    body = response.json()
    assert isinstance(body, dict) and isinstance(body.get("error"), dict), f"no 'error' object: {body!r}"
    error = body["error"]
    assert isinstance(error.get("code"), str) and error["code"], f"no error code: {body!r}"
    assert isinstance(error.get("message"), str) and error["message"], f"no error message: {body!r}"
    return True


def _sent_secret(case: Case) -> str | None:
    body = case.body if isinstance(case.body, dict) else None
    key = body.get("api_key") if body is not None else None
    return key.strip() if isinstance(key, str) and len(key.strip()) >= 8 else None


def no_secret_echoed(_ctx: CheckContext, response: Response, case: Case) -> bool | None:
    text = response.content.decode("utf-8", "replace")
    # A value the caller also put in the path (a provider named like the key) is the path echoed back.
    in_path = " ".join(str(v) for v in (case.path_parameters or {}).values())
    for secret in (INGEST_KEY, CREDS_KEY, PROVIDER_KEY, _sent_secret(case)):
        assert not secret or secret in in_path or secret not in text, "a secret appears in the response"
    return True


def no_server_error(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """No 5xx, except readiness saying it is not ready (``/readyz``'s job; no writer runs here)."""
    if case.operation.path == "/readyz" and response.status_code == 503:
        return True
    return not_a_server_error(ctx, response, case)  # type: ignore[no-any-return]


CHECKS = [
    no_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
    json_error_shape,
    no_secret_echoed,
]
# Event streams have no JSON body to validate; their status codes and error bodies still are.
STREAM_CHECKS = [c for c in CHECKS if c is not response_schema_conformance]


def _validate(case: Case, **kwargs: Any) -> None:
    stream = case.operation.method.upper() == "POST" and case.operation.path.endswith("/messages")
    if case.operation.path.startswith("/api/"):  # the chat's routes need a session: the fuzz's admin's
        kwargs.setdefault("headers", CHAT_AUTH)
    case.call_and_validate(checks=STREAM_CHECKS if stream else CHECKS, **kwargs)


# --- ingestion ------------------------------------------------------------------------------------
# The apps are built at import: schemathesis parametrizes from a loaded schema (its fixture-based
# lazy loading does not work with this pytest). Building them touches no service.

STREAM = f"prism-test:{uuid.uuid4().hex[:12]}:inference.logged"
INGESTION_APP = create_ingestion_app(
    Settings(api_key=INGEST_KEY, redis_url=REDIS_URL, stream=STREAM, max_request_bytes=64 * 1024),
    Ingestor(RedisStreamsBus(REDIS_URL, STREAM, 1000), RegexRedactor(), MemoryRawPayloadStore()),
)
ingestion = schemathesis.openapi.from_asgi("/openapi.json", INGESTION_APP, config=_config())


@pytest.fixture(scope="module", autouse=True)
def _drop_stream() -> Iterator[None]:
    yield
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=STREAM.split(":inference")[0] + ":*"))
    if keys:
        client.delete(*keys)
    client.close()


@ingestion.parametrize()
def test_ingestion_without_valid_auth(case: Case) -> None:
    """Whatever ``Authorization`` schemathesis sends (none, or a made-up one) is refused cleanly."""
    _validate(case)


@ingestion.parametrize()
def test_ingestion_with_valid_auth(case: Case) -> None:
    _validate(case, headers=AUTH)


# Schema-generated events are arbitrary objects (the batch schema does not constrain them), so they
# never get past validation: these start from a valid event and break a few fields at a time.
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
EVENT_KEYS = sorted(make_event())


@st.composite
def near_valid_events(draw: st.DrawFn) -> dict[str, Any]:
    event = make_event()
    for key in draw(st.sets(st.sampled_from(EVENT_KEYS), max_size=2)):
        del event[key]
    event.update(draw(st.dictionaries(st.sampled_from(EVENT_KEYS), JSON_VALUES, max_size=2)))
    return event


ingestion_positive = schemathesis.openapi.from_asgi(
    "/openapi.json", INGESTION_APP, config=_config(GenerationMode.POSITIVE)
).include(method="POST", path="/v1/events")


@ingestion_positive.parametrize()
@ingestion_positive.given(events=st.lists(near_valid_events() | st.just(make_event()), min_size=1, max_size=4))
def test_ingestion_near_valid_events(case: Case, events: list[dict[str, Any]]) -> None:
    """Valid, partly valid and almost valid batches: 202, 207 or 422, never a 5xx."""
    case.headers = {}
    case.body = {"events": events}
    _validate(case, headers=AUTH)


# --- chat -----------------------------------------------------------------------------------------


async def _no_discovery(_self: Providers, base_url: str, _api_key: str | None) -> tuple[None, str]:
    return None, f"could not list models at {base_url}: offline"


class _StoreSlot:
    """Forwards to the store a fixture puts in: the schemas are loaded at import, the database
    exists only once the session's fixtures run."""

    target: Any = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.target, name)


# The real PostgreSQL store: it refuses what the in-memory fakes accept (NUL characters, values
# out of range), which is exactly what a fuzzer finds.
CHAT_STORE = _StoreSlot()
IDENTITY_STORE = _StoreSlot()
IDENTITY = test_identity(IDENTITY_STORE)  # type: ignore[arg-type]
CHAT_APP = create_chat_app(
    make_settings(),
    store=CHAT_STORE,  # type: ignore[arg-type]
    credential_store=CHAT_STORE,  # type: ignore[arg-type]
    gateway=FakeGateway(),
    demo=FakeDemo(),  # type: ignore[arg-type]
    identity=IDENTITY,
)
# Who the chat operations are sent as (an admin, who may call every route): set by _chat_store.
CHAT_AUTH: dict[str, str] = {}
CHAT_OWNER: list[uuid.UUID] = []


def _chat_config(*modes: GenerationMode) -> SchemathesisConfig:
    """The chat's one security scheme is the session cookie, which CHAT_AUTH sends (the fuzz's admin)
    on every case: a generated cookie, or a negative case without one, would be overridden by it."""
    config = _config(*modes)
    config.projects.default.generation.update(with_security_parameters=False)
    return config


chat = schemathesis.openapi.from_asgi("/openapi.json", CHAT_APP, config=_chat_config())


def _empty_chat_tables(database_url: str) -> None:
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("TRUNCATE conversations, messages, provider_credentials")


@pytest.fixture(scope="module", autouse=True)
def _chat_store(database_url: str) -> Iterator[None]:
    _empty_chat_tables(database_url)
    store = PostgresChatStore(database_url, max_size=4)
    CHAT_STORE.target = store
    identity_store = PostgresIdentityStore(database_url)
    IDENTITY_STORE.target = identity_store
    admin = Callers(IDENTITY).session("admin")
    assert admin.user is not None
    CHAT_OWNER[:] = [admin.user.id]
    CHAT_AUTH.update({"Cookie": f"{SESSION_COOKIE}={admin.cookies[SESSION_COOKIE]}", **admin.headers})
    providers: Providers = CHAT_APP.state.providers
    with pytest.MonkeyPatch.context() as mp:
        # Fuzzed base URLs must not be fetched: the test stays offline and fast.
        mp.setattr(Providers, "_discover", _no_discovery)
        for provider, key, url in (
            ("openai", PROVIDER_KEY, None),
            ("openai_compatible", None, "http://127.0.0.1:9/v1"),
        ):
            anyio.run(functools.partial(providers.put, provider, api_key=key, base_url=url, models=None))
        yield
    for turn in CHAT_APP.state.chat.active_turns():
        turn.cancel("shutdown")
    store.close()
    CHAT_STORE.target = None
    identity_store.close()
    IDENTITY_STORE.target = None
    CHAT_AUTH.clear()
    _empty_chat_tables(database_url)


@chat.parametrize()
def test_chat(case: Case) -> None:
    """Random ids: mostly unknown conversations and providers."""
    _validate(case)


def _existing_conversation(case: Case) -> None:
    if "{conversation_id}" not in case.operation.path:
        return
    conversation = CHAT_STORE.create_conversation(uuid.uuid4(), "", owner=CHAT_OWNER[0])
    case.path_parameters = {**(case.path_parameters or {}), "conversation_id": str(conversation.id)}


@chat.include(path_regex=r"\{conversation_id\}").parametrize()
def test_chat_existing_conversation(case: Case) -> None:
    """The same operations against a conversation that exists (a fresh one per example)."""
    _existing_conversation(case)
    _validate(case)


# --- chat: targeted values ------------------------------------------------------------------------
# Generated strings rarely hit what breaks a store or a parser: these mix such values in.

HOSTILE_TEXT = st.sampled_from(
    ["\x00", "a\x00b", "\x00" * 3, " ", "\t\n", "\u2028", "\ufeff", "\x1b[2J", "'; DROP TABLE messages; --", "%00"]
) | st.text(max_size=30)
chat_positive = schemathesis.openapi.from_asgi("/openapi.json", CHAT_APP, config=_chat_config(GenerationMode.POSITIVE))


def _b64(value: object) -> str:
    # json, not orjson: a generated integer may be wider than 64 bits (a tampered cursor may hold one)
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


OFFSETS = st.sampled_from([UTC, timezone(timedelta(hours=14)), timezone(timedelta(hours=-14)), None])
TIMESTAMPS = st.builds(lambda d: d.isoformat(), st.datetimes(timezones=OFFSETS))
CURSORS = (
    st.tuples(TIMESTAMPS | JSON_VALUES, st.uuids().map(str) | JSON_VALUES).map(lambda t: _b64(list(t)))
    | JSON_VALUES.map(_b64)
    | HOSTILE_TEXT
)


@chat_positive.include(method="GET", path="/api/conversations").parametrize()
@chat_positive.given(cursor=CURSORS)
def test_chat_cursors(case: Case, cursor: str) -> None:
    """Made-up and tampered page cursors: 200 or 422 invalid_cursor."""
    case.query = {**(case.query or {}), "cursor": cursor}
    _validate(case)


@chat_positive.include(
    path_regex=r"^/api/conversations(/\{conversation_id\})?$", method=["POST", "PATCH"]
).parametrize()
@chat_positive.given(title=HOSTILE_TEXT)
def test_chat_titles(case: Case, title: str) -> None:
    _existing_conversation(case)
    case.body = {"title": title}
    _validate(case)


USABLE_MODELS = st.sampled_from(["demo/prism-demo", "openai/gpt-4o-mini", "openai_compatible/llama3.2"])
OTHER_MODELS = st.sampled_from(["demo/other", "gemini/x", "nope/x", "openai"]) | HOSTILE_TEXT.map(
    lambda t: f"openai_compatible/{t}"
)


@chat_positive.include(method="POST", path_regex=r"/messages$").parametrize()
@chat_positive.given(model=USABLE_MODELS | OTHER_MODELS, content=HOSTILE_TEXT)
def test_chat_send_message_to_known_models(case: Case, model: str, content: str) -> None:
    """Messages to an existing conversation naming configured, unconfigured and unknown models
    (openai_compatible without a model list takes any model name)."""
    _existing_conversation(case)
    if isinstance(case.body, dict):
        case.body = {**case.body, "model": model, "content": content}
    _validate(case)


@chat_positive.include(path_regex=r"/providers/\{provider\}$").parametrize()
@chat_positive.given(
    provider=st.sampled_from([*PROVIDERS, "demo"]),
    changes=st.fixed_dictionaries(
        {
            "models": st.none() | st.lists(HOSTILE_TEXT, min_size=1, max_size=3),
            "api_key": st.just(PROVIDER_KEY) | HOSTILE_TEXT,
        },
        optional={
            "base_url": st.sampled_from(["http://127.0.0.1:9/v1", "http://169.254.169.254/", "http://[fe80::1]/"]),
        },
    ),
)
def test_chat_known_providers(case: Case, provider: str, changes: dict[str, Any]) -> None:
    """Configure and remove the real providers with generated keys, URLs and model lists; the key
    sent never comes back."""
    case.path_parameters = {"provider": provider}
    if isinstance(case.body, dict):
        case.body = {**case.body, **changes}
    _validate(case)
