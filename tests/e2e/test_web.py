"""The web UI end to end, as a person uses it: GIVEN the static build of ``web/`` served next to the
real chat API (real PostgreSQL, LiteLLM, the demo model) and the fake OpenAI-compatible server,
WHEN Playwright drives Chromium through the chat and settings pages THEN every spec passes.
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
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

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


@contextlib.contextmanager
def web_stack() -> Iterator[Stack]:
    """PostgreSQL database, fake provider, chat API and the static site, all on loopback."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("LITELLM_MODE", "PRODUCTION")
    from chat.app import create_app
    from chat.settings import ChatSettings
    from cryptography.fernet import Fernet
    from prism.adapters.postgres import drop_database, migrate

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
    try:
        with contextlib.ExitStack() as stack:
            stack.enter_context(fake)
            # The static server's port is needed for CORS before the chat API starts.
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
            config = {"chatApiUrl": chat.url, "chatStreamUrl": None, "queryApiUrl": None}
            static.set_config(config)
            stack.enter_context(static)
            yield Stack(web_url=static.url, chat_url=chat.url, fake_url=fake.base_url)
    finally:
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
    """Playwright (web/e2e): streaming, stop, resume, settings, errors, conversation list."""
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
            PRISM_CHROMIUM=chromium,
        )
        res = run(["npx", "--no-install", "playwright", "test"], timeout=420, env=env)
    assert res.returncode == 0, f"playwright failed:\n{res.stdout[-12000:]}\n{res.stderr[-4000:]}"


if __name__ == "__main__":
    import signal
    import sys

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # `kill` too drops the database
    with web_stack() as s:
        print(f"web:  {s.web_url}\nchat: {s.chat_url}\nfake: {s.fake_url}  (models: fake-model, fake-long, fake-error)")
        print("web/out is served as built: run `npm run build` in web/ to see changes. Ctrl-C stops.")
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
