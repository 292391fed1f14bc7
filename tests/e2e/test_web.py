"""The web UI end to end, as a person uses it: GIVEN the static build of ``web/`` served from one
origin (``scripts/web.py``, which forwards ``/api/...``) in front of the real identity API (its
bootstrap admin with a password generated for the run), the chat API (real PostgreSQL, LiteLLM, the
demo model), the query API over the same database (seeded with inference events through the writer
path) and the fake OpenAI-compatible server, WHEN Playwright drives Chromium, signed in through the
form, through the chat, settings, metrics, logs, sign-in and API-key pages THEN every spec passes,
AND no secret of the run (the admin's password, the session ids set, the ingestion keys and read
tokens created, the provider keys saved) is in the functions' logs, in any response but the one
that hands it out, or in the browser's storage (issue 11 §5).
The web unit tests (vitest) run here too.

Needs Node (npm) and Chromium (``/usr/bin/chromium`` or ``PRISM_CHROMIUM``): without them these
tests FAIL, unless ``PRISM_SKIP_WEB=1``. ``npm ci`` runs when ``web/node_modules`` is missing and
``npm run build`` when ``web/out`` is missing or older than the sources.

Run the same stack by hand, to develop the UI against it::

    .venv/bin/python -m tests.e2e.test_web          # prints the URLs and the admin; Ctrl-C stops it
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from scripts.web import OUT, WEB, BuildError, StaticServer, ensure_built, ensure_installed, node_env

ROOT = Path(__file__).resolve().parents[2]
PG_ADMIN = os.environ.get("PRISM_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
SKIP = os.environ.get("PRISM_SKIP_WEB") == "1"

# The fake provider's models and how each answers (the Playwright specs rely on these names).
REPLY = (
    "Here is **the answer** you asked for, streamed one word at a time by the fake model so "
    "that a person can watch it arrive:\n\n- first point\n- second point\n\nThat is all for now."
)
LONG_REPLY = " ".join(f"word{i}" for i in range(200))

pytestmark = pytest.mark.skipif(SKIP, reason="PRISM_SKIP_WEB=1")


def chromium_path() -> str | None:
    explicit = os.environ.get("PRISM_CHROMIUM")
    if explicit:
        return explicit if Path(explicit).exists() else None
    for name in ("/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if Path(name).exists():
            return name
    return shutil.which("chromium") or shutil.which("chromium-browser")


def require_npm() -> str:
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        pytest.fail("Node.js and npm are needed for the web tests (or set PRISM_SKIP_WEB=1)")
    return npm


def require_chromium() -> str:
    chromium = chromium_path()
    if chromium is None:
        pytest.fail("Chromium is needed for the web tests: apt-get install -y chromium (or set PRISM_SKIP_WEB=1)")
    return chromium


def run(cmd: list[str], timeout: float, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, cwd=WEB, env=env or node_env(), capture_output=True, text=True, timeout=timeout, check=False
    )


# --- the stack -------------------------------------------------------------------------------------


@dataclass
class Exchange:
    """One ``/api/...`` request through the web origin, as the browser (or a spec's ``api``) saw it."""

    method: str
    target: str  # path and query string
    status: int = 0
    request_body: bytes = b""
    response_body: bytes = b""
    set_cookies: tuple[str, ...] = ()


class Recorder:
    """ASGI middleware on the web origin: keeps every ``/api/...`` exchange (bodies whole, streams too)."""

    def __init__(self, app: ASGIApp, exchanges: list[Exchange]) -> None:
        self.app = app
        self.exchanges = exchanges

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string", b"").decode("latin-1")
        seen = Exchange(scope["method"], scope["path"] + (f"?{query}" if query else ""))
        self.exchanges.append(seen)

        async def recv() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                seen.request_body += message.get("body", b"")
            return message

        async def sent(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen.status = message["status"]
                seen.set_cookies = tuple(
                    v.decode("latin-1") for k, v in message["headers"] if k.lower() == b"set-cookie"
                )
            elif message["type"] == "http.response.body":
                seen.response_body += message.get("body", b"")
            await send(message)

        await self.app(scope, recv, sent)


@dataclass
class Stack:
    web_url: str
    chat_url: str
    fake_url: str  # the fake provider's base URL, with /v1
    query_url: str
    identity_url: str
    admin_email: str
    admin_password: str
    run_dir: Path  # logs/ (the functions' log lines), storage/ (the browser's, from the specs), signed-in.json
    exchanges: list[Exchange]

    @property
    def log_dir(self) -> Path:
        return self.run_dir / "logs"

    @property
    def storage_dir(self) -> Path:
        return self.run_dir / "storage"


@contextlib.contextmanager
def captured_logs(log_dir: Path) -> Iterator[Path]:
    """Every log record of the in-process functions (root logger at INFO, as ``PRISM_LOG_LEVEL``
    defaults, and uvicorn's access and error logs) into ``log_dir/functions.log``, formatted as
    ``prism.logs`` formats them in production (JSON, extra keys included)."""
    from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / "functions.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    formatter = LambdaPowertoolsFormatter(
        service="prism-web-e2e", log_record_order=["timestamp", "level", "name", "message"]
    )
    formatter.append_keys(name="%(name)s")
    handler.setFormatter(formatter)
    loggers = [logging.getLogger(), logging.getLogger("uvicorn.access"), logging.getLogger("uvicorn.error")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.INFO)
    try:
        yield path
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.removeHandler(handler)
            lg.setLevel(level)
        handler.close()


# --- seeded inference events (the Playwright specs 04-metrics and 05-logs rely on these) -----------

# Recent events (within the last hour): three models, every 6th one an error; two of them carry an
# e-mail address the ingestion redacted. Older events (3 to 5 hours ago, gpt-4o only) make the
# 1 h and 24 h windows differ. One event's payload is offloaded to a file that is not there.
SEED_MODELS = (("gpt-4o", "openai"), ("claude-sonnet", "anthropic"), ("mistral-small", "mistral"))
SEED_RECENT = 36
SEED_OLDER = 10
SEED_REDACTED_CONVERSATION = "conv-e2e-redacted"


def _event_row(created_at: datetime, i: int, model: str, provider: str, *, status: str = "ok",
               redacted: bool = False, uri: str | None = None, tags: tuple[str, ...] = ()) -> Any:  # fmt: skip
    from prism.records import to_row

    latency = {"gpt-4o": 400.0, "claude-sonnet": 900.0, "mistral-small": 250.0}[model] + (i % 7) * 37.0
    start = created_at - timedelta(milliseconds=latency)
    question = "Please write to [EMAIL] about the invoice." if redacted else f"Question number {i}?"
    event: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "ts_start": start.isoformat(),
        "ts_first_token": (start + timedelta(milliseconds=latency * 0.3)).isoformat(),
        "ts_end": created_at.isoformat(),
        "provider": provider,
        "model": model,
        "status": status,
        "usage": {"prompt_tokens": 20 + i, "completion_tokens": 10 + i % 5, "total_tokens": 30 + i + i % 5},
        "cost_usd": 0.0005 * (1 + i % 3),
        "request": {
            "messages": [
                {"role": "system", "content": "You are a helpful assistant."},
                {"role": "user", "content": question},
            ],
            "temperature": 0.2,
        },
        "response": {"content": f"Answer number {i}.", "finish_reason": "stop"},
        "conversation_id": SEED_REDACTED_CONVERSATION if redacted else f"conv-e2e-{i % 4}",
        "tags": ["e2e", *(["redacted"] if redacted else []), *tags],
    }
    if status == "error":
        event["error"] = {"type": "provider_rate_limited", "message": "Rate limit reached for requests"}
        event["response"] = None
    if redacted:
        event["tool_invocations"] = [
            {"name": "lookup_invoice", "arguments": {"customer": "[EMAIL]"}, "result": {"total": 42}, "status": "ok"}
        ]
    record = {"created_at": created_at.isoformat(), "redactions": {"email": 1} if redacted else {},
              "raw_payload_uri": uri}  # fmt: skip
    return to_row(record, event)


def seed_events(db: str, raw_dir: Path) -> int:
    """Inference events written as the writer writes them (rollups and histograms included)."""
    from prism.adapters.postgres import PostgresLogStore

    now = datetime.now(UTC)
    rows = []
    for i in range(SEED_RECENT):
        model, provider = SEED_MODELS[i % len(SEED_MODELS)]
        at = now - timedelta(minutes=50) + timedelta(seconds=i * 75)
        status = "error" if i % 6 == 5 else "ok"
        rows.append(_event_row(at, i, model, provider, status=status, redacted=i in (4, 22)))
    for i in range(SEED_OLDER):
        rows.append(_event_row(now - timedelta(hours=5) + timedelta(minutes=i * 12), 100 + i, "gpt-4o", "openai"))
    missing = (raw_dir / "raw" / "not-there.json").as_uri()
    rows.append(_event_row(now - timedelta(hours=2), 200, "gpt-4o", "openai", uri=missing, tags=("offloaded",)))
    store = PostgresLogStore(db)
    try:
        store.maintain()
        return store.write(rows)
    finally:
        store.close()


@contextlib.contextmanager
def web_stack(run_dir: Path) -> Iterator[Stack]:
    """PostgreSQL database, fake provider, identity, chat and query APIs and the web origin in front
    of them, all on loopback; the functions log into ``run_dir/logs``."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("LITELLM_MODE", "PRODUCTION")
    from chat.app import create_app
    from chat.config import ChatSettings
    from cryptography.fernet import Fernet
    from identity.app import create_app as create_identity_app
    from prism.adapters.files import FileRawPayloadStore
    from prism.adapters.postgres import drop_database, migrate
    from prism.adapters.postgres_query import PostgresQueryStore
    from prism.config import Settings
    from query.app import create_app as create_query_app

    from tests.support.fake_openai import Behaviour, FakeOpenAI
    from tests.support.net import ThreadServer

    db = PG_ADMIN.rsplit("/", 1)[0] + f"/prism_web_{uuid.uuid4().hex[:10]}"
    migrate(db, profile="postgres")
    fake = FakeOpenAI(Behaviour(text=REPLY, first_token_delay=0.1, inter_token_delay=0.08))
    fake.models = ["fake-model", "fake-long", "fake-error"]
    fake.by_model["fake-long"] = Behaviour(text=LONG_REPLY, first_token_delay=0.1, inter_token_delay=0.1)
    fake.by_model["fake-error"] = Behaviour(
        error_status=401,
        error_body={"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}},
    )
    admin_email, admin_password = "admin@e2e.example.com", secrets.token_urlsafe(18)
    exchanges: list[Exchange] = []
    app = None
    query_store = None
    try:
        with contextlib.ExitStack() as stack:
            stack.enter_context(captured_logs(run_dir / "logs"))
            raw_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="prism-web-raw-")))
            seed_events(db, raw_dir)
            stack.enter_context(fake)
            # The web server's port is needed for the APIs' allowed origins before they start.
            static = StaticServer(OUT)
            static.app.add_middleware(Recorder, exchanges=exchanges)
            # The identity API first: it creates the bootstrap admin at start (same database).
            identity_app = create_identity_app(
                Settings(env="test", database_url=db, cors_origins=static.url, admin_email=admin_email,
                         admin_password=admin_password)
            )  # fmt: skip
            identity = stack.enter_context(ThreadServer(identity_app))
            settings = ChatSettings(
                env="test",
                database_url=db,
                creds_key=Fernet.generate_key().decode(),
                demo_model=True,
                cors_origins=static.url,
                chat_timeout_s=60.0,
                chat_read_timeout_s=10.0,
                chat_cancel_poll_s=0.2,
            )
            app = create_app(settings)
            chat = stack.enter_context(ThreadServer(app))
            query_store = PostgresQueryStore(db)
            query_app = create_query_app(
                Settings(env="test", database_url=db, cors_origins=static.url),
                store=query_store,
                dashboards=query_store,
                raw_store=FileRawPayloadStore(raw_dir),
            )
            query = stack.enter_context(ThreadServer(query_app))
            # One origin, as `make up` serves it: the browser calls the web server, which forwards
            # /api/... to the identity, chat and query APIs (scripts/web.py), streaming included;
            # the session cookie is first-party.
            static.set_config({"chatApiUrl": "", "chatStreamUrl": None, "queryApiUrl": ""})
            static.set_upstreams({"chat": chat.url, "query": query.url, "identity": identity.url})
            stack.enter_context(static)
            yield Stack(
                web_url=static.url, chat_url=chat.url, fake_url=fake.base_url, query_url=query.url,
                identity_url=identity.url, admin_email=admin_email, admin_password=admin_password,
                run_dir=run_dir, exchanges=exchanges,
            )  # fmt: skip
    finally:
        if query_store is not None:
            query_store.close()
        if app is not None:
            app.state.chat.store.close()
            if app.state.demo is not None:
                app.state.demo.stop()
        drop_database(db)


# --- tests -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def npm() -> str:
    """npm, with web/node_modules installed."""
    path = require_npm()
    try:
        ensure_installed(path)
    except BuildError as exc:
        pytest.fail(str(exc))
    return path


@pytest.mark.timeout(900)  # a first run installs node_modules
def test_web_unit_tests(npm: str) -> None:
    """vitest: the SSE parser, the API client, the config loader, the Markdown renderer."""
    res = run(["npx", "--no-install", "vitest", "run"], timeout=300)
    assert res.returncode == 0, f"vitest failed:\n{res.stdout[-8000:]}\n{res.stderr[-4000:]}"


# --- the secrets of a run (issue 11 §5) -------------------------------------------------------------

SESSION_SET = re.compile(r"\s*prism_session=([^;]+)")


def run_secrets(s: Stack) -> dict[str, str]:
    """Every secret the run handed out or was given (secret -> what it is): the admin's password,
    each session id a ``Set-Cookie`` set, each key and read token created, each provider key saved."""
    found = {s.admin_password: "the admin's password"}
    for ex in s.exchanges:
        for cookie in ex.set_cookies:
            m = SESSION_SET.match(cookie)
            if m and (value := m.group(1).strip().strip('"')):  # a sign-out clears it: prism_session=""
                found[value] = f"a session id (set by {ex.method} {ex.target})"
        if ex.method == "POST" and ex.target == "/api/keys" and ex.status == 201:
            body = json.loads(ex.response_body)
            found[body["token"]] = f"the {body['kind']} key {body['prefix']}"
        saved = ex.method == "PUT" and ex.target.startswith("/api/settings/providers/") and ex.request_body
        if saved and (key := json.loads(ex.request_body).get("api_key")):
            found[key] = f"the provider key saved by PUT {ex.target}"
    return found


def leaks(found: dict[str, str], where: str, text: str) -> list[str]:
    return [f"{what} in {where}" for secret, what in found.items() if secret in text]


def secrets_leaked(s: Stack, found: dict[str, str]) -> list[str]:
    """Where a secret shows: a log file of the run, a response body (but the one creating a key, which
    shows it once) or a URL the web origin saw, the browser storage a spec left."""
    out: list[str] = []
    for path in sorted(s.log_dir.rglob("*")):
        if path.is_file():
            out += leaks(found, f"the log {path.name}", path.read_text(errors="replace"))
    for ex in s.exchanges:
        shown_once = (
            {json.loads(ex.response_body)["token"]}
            if ex.method == "POST" and ex.target == "/api/keys" and ex.status == 201
            else set()
        )
        others = {k: v for k, v in found.items() if k not in shown_once}
        where = f"the response to {ex.method} {ex.target} ({ex.status})"
        out += leaks(others, where, ex.target + "\n" + ex.response_body.decode("utf-8", errors="replace"))
    for path in sorted(s.storage_dir.glob("*.json")):
        out += leaks(found, f"the browser storage after {path.stem}", path.read_text())
    return out


def use_a_read_token(s: Stack) -> None:
    """What a script does with a read token (through the web origin): an admin signs in, creates
    one, the script reads the logs with it, may not change anything, and the token stops working
    once revoked."""
    with (
        httpx.Client(base_url=s.web_url, timeout=30) as admin,
        httpx.Client(base_url=s.web_url, timeout=30) as script,
    ):
        login = admin.post("/api/auth/login", json={"email": s.admin_email, "password": s.admin_password})
        assert login.status_code == 200, login.text
        csrf = {"X-CSRF-Token": login.json()["csrf_token"]}
        created = admin.post("/api/keys", json={"kind": "read", "name": "e2e script"}, headers=csrf)
        assert created.status_code == 201, created.text
        bearer = {"Authorization": f"Bearer {created.json()['token']}"}
        logs = script.get("/api/logs", headers=bearer)
        assert logs.status_code == 200 and logs.json()["items"], logs.text
        assert script.post("/api/dashboards", json={}, headers=bearer).status_code == 403
        assert admin.delete(f"/api/keys/{created.json()['id']}", headers=csrf).status_code == 204
        assert script.get("/api/logs", headers=bearer).status_code == 401
        assert admin.post("/api/auth/logout", json={}, headers=csrf).status_code == 204  # a POST is JSON


def test_the_secrets_check_finds_a_logged_secret(tmp_path: Path) -> None:
    """The check itself: a secret logged by a function (in an extra key too), or left in a response,
    is found; the response that shows a new key once is not counted."""
    s = Stack("http://web", "", "", "", "", "admin@e2e.example.com", "pw-" + secrets.token_urlsafe(8), tmp_path, [])
    token = "prism_rt_" + secrets.token_urlsafe(16)
    s.exchanges += [
        Exchange("POST", "/api/keys", 201, b"{}", json.dumps({"token": token, "kind": "read", "prefix": "p"}).encode()),
        Exchange("POST", "/api/auth/login", 200, set_cookies=("prism_session=sess-123456789; HttpOnly; Path=/",)),
        Exchange("POST", "/api/auth/logout", 204, set_cookies=('prism_session=""; Max-Age=0; Path=/',)),
    ]
    found = run_secrets(s)
    assert set(found) == {s.admin_password, token, "sess-123456789"}
    with captured_logs(s.log_dir):
        logging.getLogger("prism.somewhere").info("nothing secret here")
    assert secrets_leaked(s, found) == []
    with captured_logs(s.log_dir):
        logging.getLogger("prism.somewhere").warning("signed in", extra={"cookie": "sess-123456789"})
    s.exchanges.append(Exchange("GET", "/api/keys", 200, response_body=token.encode()))
    assert secrets_leaked(s, found) == [
        "a session id (set by POST /api/auth/login) in the log functions.log",
        "the read key p in the response to GET /api/keys (200)",
    ]


@pytest.mark.timeout(900)  # a first run builds web/out
def test_web_end_to_end(npm: str, tmp_path: Path) -> None:
    """Playwright (web/e2e), signed in as the bootstrap admin: streaming, stop, resume, settings,
    errors, conversation list, metrics, logs, sign-in and sign-out, API keys; then a script with a
    read token; then no secret of the run in the logs, the responses or the browser's storage."""
    chromium = require_chromium()
    try:
        ensure_built(npm)
    except BuildError as exc:
        pytest.fail(str(exc))
    with web_stack(tmp_path) as s:
        env = node_env(
            PRISM_WEB_URL=s.web_url,
            PRISM_FAKE_URL=s.fake_url,
            PRISM_CHROMIUM=chromium,
            PRISM_ADMIN_EMAIL=s.admin_email,
            PRISM_ADMIN_PASSWORD=s.admin_password,
            PRISM_E2E_STATE_DIR=str(s.run_dir),
        )
        res = run(["npx", "--no-install", "playwright", "test"], timeout=420, env=env)
        if res.returncode == 0:
            use_a_read_token(s)
    # The secrets are checked whatever Playwright said: a leak is reported next to a failing spec.
    problems = [] if res.returncode == 0 else [f"playwright failed:\n{res.stdout[-12000:]}\n{res.stderr[-4000:]}"]
    found = run_secrets(s)
    kinds = " | ".join(found.values())
    if res.returncode == 0:
        for kind in ("password", "session id", "ingest key", "read key", "provider key"):
            if kind not in kinds:
                problems.append(f"the run handed out no {kind}: {sorted(found.values())}")
        if len(list(s.storage_dir.glob("*.json"))) < 15:
            problems.append("the specs left no browser storage to check")
    leaked = secrets_leaked(s, found)
    if leaked:
        problems.append("secrets leaked:\n" + "\n".join(leaked))
    assert not problems, "\n\n".join(problems)


if __name__ == "__main__":
    import signal
    import sys

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # `kill` too drops the database
    with tempfile.TemporaryDirectory(prefix="prism-web-") as run_dir, web_stack(Path(run_dir)) as s:
        print(f"web:  {s.web_url}\nchat: {s.chat_url}\nquery: {s.query_url}\nidentity: {s.identity_url}\n"
              f"fake: {s.fake_url}  (models: fake-model, fake-long, fake-error)\n"
              f"export PRISM_WEB_URL={s.web_url} PRISM_FAKE_URL={s.fake_url} PRISM_E2E_STATE_DIR={s.run_dir} "
              f"PRISM_ADMIN_EMAIL={s.admin_email} PRISM_ADMIN_PASSWORD={s.admin_password}")  # fmt: skip
        print("web/out is served as built: run `npm run build` in web/ to see changes. Ctrl-C stops.")
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
