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
import functools
import http.server
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
OUT = WEB / "out"
PG_ADMIN = os.environ.get("PRISM_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
SKIP = os.environ.get("PRISM_SKIP_WEB") == "1"
# What the build reads: a newer file here than out/index.html means out/ is stale.
SOURCES = ["src", "public", "package.json", "package-lock.json", "next.config.ts", "tsconfig.json"]

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


def node_env(**extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1",
        "NEXT_TELEMETRY_DISABLED": "1",
        "CI": os.environ.get("CI", "1"),
        **extra,
    }
    return env


def newest_source_mtime() -> float:
    newest = 0.0
    for name in SOURCES:
        p = WEB / name
        files = [p] if p.is_file() else [f for f in p.rglob("*") if f.is_file()] if p.is_dir() else []
        for f in files:
            newest = max(newest, f.stat().st_mtime)
    return newest


def ensure_installed(npm: str) -> None:
    if (WEB / "node_modules" / ".package-lock.json").exists():
        return
    res = run([npm, "ci", "--no-audit", "--no-fund"], timeout=600)
    assert res.returncode == 0, f"npm ci failed:\n{res.stdout[-4000:]}\n{res.stderr[-4000:]}"


def ensure_built(npm: str) -> None:
    index = OUT / "index.html"
    if index.exists() and index.stat().st_mtime >= newest_source_mtime():
        return
    res = run([npm, "run", "build"], timeout=600)
    assert res.returncode == 0, f"npm run build failed:\n{res.stdout[-6000:]}\n{res.stderr[-4000:]}"
    assert index.exists(), "the build wrote no out/index.html"
    index.touch()  # a source saved during the build makes the next run build again


# --- the stack -------------------------------------------------------------------------------------


class ThreadServer:
    """An ASGI app on uvicorn, 127.0.0.1, a free port, in a daemon thread."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.server = uvicorn.Server(
            uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=2)
        )
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ThreadServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "server did not start"
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


class StaticHandler(http.server.SimpleHTTPRequestHandler):
    """Serves web/out, plus /config.json pointing at this stack's chat API."""

    config: bytes = b"{}"

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] == "/config.json":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(self.config)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(self.config)
            return
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class StaticServer:
    def __init__(self, directory: Path, config: dict[str, Any]) -> None:
        handler: type[StaticHandler] = type("Handler", (StaticHandler,), {"config": json.dumps(config).encode()})
        self.handler = handler
        self.httpd = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(handler, directory=str(directory))
        )
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> StaticServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


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
            static = StaticServer(OUT, {})
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
            static.handler.config = json.dumps(config).encode()
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
    ensure_installed(path)
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
    ensure_built(npm)
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
