"""The web UI end to end, as a person uses it: GIVEN the static build of ``web/`` served next to the
real chat API (real PostgreSQL, LiteLLM, the demo model), the query API over the same database
(seeded with inference events through the writer path) and the fake OpenAI-compatible server,
WHEN Playwright drives Chromium through the chat, settings, metrics and logs pages THEN every spec
passes.
The web unit tests (vitest) run here too.

Needs Node (npm) and Chromium (``/usr/bin/chromium`` or ``PRISM_CHROMIUM``): without them these
tests FAIL, unless ``PRISM_SKIP_WEB=1``. ``npm ci`` runs when ``web/node_modules`` is missing and
``npm run build`` when ``web/out`` is missing or older than the sources.

Run the same stack by hand, to develop the UI against it::

    .venv/bin/python -m tests.e2e.test_web          # prints the URLs; Ctrl-C stops it
"""

from __future__ import annotations

import contextlib
import os
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

import pytest

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
class Stack:
    web_url: str
    chat_url: str
    fake_url: str  # the fake provider's base URL, with /v1
    query_url: str


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
def web_stack() -> Iterator[Stack]:
    """PostgreSQL database, fake provider, chat API and the static site, all on loopback."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("LITELLM_MODE", "PRODUCTION")
    from chat.app import create_app
    from chat.config import ChatSettings
    from cryptography.fernet import Fernet
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
    app = None
    query_store = None
    try:
        with contextlib.ExitStack() as stack:
            raw_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="prism-web-raw-")))
            seed_events(db, raw_dir)
            stack.enter_context(fake)
            # The web server's port is needed for the APIs' allowed origins before they start.
            static = StaticServer(OUT)
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
            # /api/... to the chat and query APIs (scripts/web.py), streaming included.
            static.set_config({"chatApiUrl": "", "chatStreamUrl": None, "queryApiUrl": ""})
            static.set_upstreams({"chat": chat.url, "query": query.url})
            stack.enter_context(static)
            yield Stack(web_url=static.url, chat_url=chat.url, fake_url=fake.base_url, query_url=query.url)
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


@pytest.mark.timeout(900)  # a first run builds web/out
def test_web_end_to_end(npm: str) -> None:
    """Playwright (web/e2e): streaming, stop, resume, settings, errors, conversation list, metrics, logs."""
    chromium = require_chromium()
    try:
        ensure_built(npm)
    except BuildError as exc:
        pytest.fail(str(exc))
    with web_stack() as s:
        env = node_env(
            PRISM_WEB_URL=s.web_url,
            PRISM_CHAT_URL=s.chat_url,
            PRISM_FAKE_URL=s.fake_url,
            PRISM_QUERY_URL=s.query_url,
            PRISM_CHROMIUM=chromium,
        )
        res = run(["npx", "--no-install", "playwright", "test"], timeout=420, env=env)
    assert res.returncode == 0, f"playwright failed:\n{res.stdout[-12000:]}\n{res.stderr[-4000:]}"


if __name__ == "__main__":
    import signal
    import sys

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # `kill` too drops the database
    with web_stack() as s:
        print(f"web:  {s.web_url}\nchat: {s.chat_url}\nquery: {s.query_url}\n"
              f"fake: {s.fake_url}  (models: fake-model, fake-long, fake-error)")  # fmt: skip
        print("web/out is served as built: run `npm run build` in web/ to see changes. Ctrl-C stops.")
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
