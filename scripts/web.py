"""The web UI's static export: build it when stale and serve it with a runtime ``/config.json``.

    python -m scripts.web [--port 3001]      # serve web/out; config.json: scripts/local_config.py

Used by ``make up`` without Docker (``scripts/dev.py``) and by the browser tests
(``tests/e2e/test_web.py``). ``npm ci`` runs when ``web/node_modules`` is missing or older than the
lock file, ``npm run build`` when ``web/out`` is older than the sources.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WEB = ROOT / "web"
OUT = WEB / "out"
# What the build reads: a newer file here than out/index.html means out/ is stale.
SOURCES = ["src", "public", "package.json", "package-lock.json", "next.config.ts", "tsconfig.json"]


class BuildError(RuntimeError):
    pass


def node_env(**extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1",
        "NEXT_TELEMETRY_DISABLED": "1",
        "CI": os.environ.get("CI", "1"),
        **extra,
    }


def _run(cmd: list[str], timeout: float) -> None:
    res = subprocess.run(cmd, cwd=WEB, env=node_env(), capture_output=True, text=True, timeout=timeout, check=False)
    if res.returncode != 0:
        raise BuildError(f"{' '.join(cmd)} failed:\n{res.stdout[-6000:]}\n{res.stderr[-4000:]}")


def newest_source_mtime() -> float:
    newest = 0.0
    for name in SOURCES:
        p = WEB / name
        files = [p] if p.is_file() else [f for f in p.rglob("*") if f.is_file()] if p.is_dir() else []
        for f in files:
            newest = max(newest, f.stat().st_mtime)
    return newest


def find_npm() -> str:
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise BuildError("Node.js and npm are needed for the web UI")
    return npm


def ensure_installed(npm: str) -> None:
    """``npm ci`` when ``web/node_modules`` is missing or older than the lock file."""
    marker = WEB / "node_modules" / ".package-lock.json"
    if not marker.exists() or marker.stat().st_mtime < (WEB / "package-lock.json").stat().st_mtime:
        _run([npm, "ci", "--no-audit", "--no-fund"], timeout=600)


def ensure_built(npm: str) -> None:
    """The locked npm packages, and ``web/out`` built from the current sources."""
    ensure_installed(npm)
    index = OUT / "index.html"
    if index.exists() and index.stat().st_mtime >= newest_source_mtime():
        return
    _run([npm, "run", "build"], timeout=600)
    if not index.exists():
        raise BuildError("the build wrote no web/out/index.html")
    index.touch()  # a source saved during the build makes the next run build again


class StaticHandler(http.server.SimpleHTTPRequestHandler):
    """Serves web/out, plus ``/config.json``: where this deployment's APIs are."""

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
    """``web/out`` on ``host:port`` (0: a free port) in a daemon thread; set the config before use."""

    def __init__(self, directory: Path = OUT, config: dict[str, Any] | None = None, *, host: str = "127.0.0.1",
                 port: int = 0) -> None:  # fmt: skip
        self.handler: type[StaticHandler] = type("Handler", (StaticHandler,), {})
        self.set_config(config or {})
        self.httpd = http.server.ThreadingHTTPServer(
            (host, port), functools.partial(self.handler, directory=str(directory))
        )
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def set_config(self, config: dict[str, Any]) -> None:
        self.handler.config = json.dumps(config).encode()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> StaticServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def main() -> None:
    from scripts.local_config import LocalSettings

    local = LocalSettings.from_env(os.environ)
    parser = argparse.ArgumentParser(description="Serve the web UI (web/out) with a runtime config.json")
    parser.add_argument("--port", type=int, default=local.web_port)
    args = parser.parse_args()
    # The APIs' URLs follow PRISM_CHAT_PORT / PRISM_QUERY_PORT unless PRISM_WEB_CHAT_URL / _QUERY_URL are set.
    config = local.web_config()
    server = StaticServer(OUT, config, host="127.0.0.1", port=args.port)
    print(f"web UI on http://localhost:{args.port} (chat API {config['chatApiUrl']})", flush=True)
    server.httpd.serve_forever()


if __name__ == "__main__":
    main()
