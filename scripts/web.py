"""The web UI from one origin: the static export, a runtime ``/config.json``, and ``/api/...``
forwarded to the function that owns each path, streaming included.

    python -m scripts.web [--port 3001]      # web/out; config.json and the route table: scripts/local_config.py

Used by ``make up`` without Docker (``scripts/dev.py``) and by the browser tests
(``tests/e2e/test_web.py``). The browser calls its own origin only, so the session cookie is
first-party and no CORS is needed (issue 11 §4); compose does the same with nginx
(``web/docker/nginx.conf``). ``npm ci`` runs when ``web/node_modules`` is missing or older than the
lock file, ``npm run build`` when ``web/out`` is older than the sources.

The forwarding (:class:`ApiProxy`) streams both ways: the request body goes up as it arrives, the
response comes down chunk by chunk (a chat reply's server-sent events token by token), and a client
that goes away closes the upstream response, so the function sees the disconnect (the chat then
stops the model call). The function's own edge still decides: the proxy forwards the web origin's
``Host`` and the browser's ``Origin``, which its request guard checks as if the browser had called
it, and it answers with the function's status and body (4xx included). A function that does not
answer gets a 502 (504 when it does not accept the connection in time) with a JSON error naming it.
"""

from __future__ import annotations

import argparse
import contextlib
import http.cookiejar
import json
import logging
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio
import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

ROOT = Path(__file__).resolve().parent.parent
WEB = ROOT / "web"
OUT = WEB / "out"
# What the build reads: a newer file here than out/index.html means out/ is stale.
SOURCES = ["src", "public", "package.json", "package-lock.json", "next.config.ts", "tsconfig.json"]

log = logging.getLogger("prism.web")

#: How error messages name each function.
SERVICE_NAMES = {"chat": "chat API", "query": "query API", "identity": "identity API"}
#: Meaningful for one connection only (RFC 9110 §7.6.1): never forwarded, either way.
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization", "te", "trailer",
     "transfer-encoding", "upgrade"}
)  # fmt: skip
#: Said by this server about the client, never taken from it (a client could claim any address).
FORWARDING = frozenset({"host", "forwarded", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-real-ip"})
#: Added by the server that answers the browser (uvicorn here): the upstream's copy would double them.
OWN_RESPONSE = frozenset({"date", "server"})


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


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def _kept(headers: Sequence[tuple[bytes, bytes]], drop: frozenset[str]) -> list[tuple[bytes, bytes]]:
    """``headers`` without the hop-by-hop ones (and those ``Connection`` names) and ``drop``."""
    named = {
        token.strip().lower()
        for key, value in headers
        if key.lower() == b"connection"
        for token in value.decode("latin-1").split(",")
    }
    out = []
    for key, value in headers:
        name = key.decode("latin-1").lower()
        if name not in HOP_BY_HOP and name not in drop and name not in named:
            out.append((key, value))
    return out


class _ClientGone(Exception):
    """The browser disconnected while its request body was being forwarded."""


class _NoCookies(http.cookiejar.DefaultCookiePolicy):
    """The proxy's HTTP client keeps no cookies: each browser's cookies pass through in its own
    requests and responses, never from one browser's response into another's request."""

    def set_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return False

    def return_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return False


class ApiProxy:
    """ASGI app: each request to a path of ``routes`` goes to its function in ``upstreams``
    (service name -> base URL), both bodies streamed; see the module's docstring."""

    def __init__(self, routes: Mapping[str, Sequence[str]], upstreams: Mapping[str, str],
                 *, connect_timeout_s: float = 5.0) -> None:  # fmt: skip
        # Longest prefix first, so that a nested prefix of another service would win.
        self.routes = sorted(((p.rstrip("/"), s) for s, ps in routes.items() for p in ps), key=lambda r: -len(r[0]))
        self.upstreams = dict(upstreams)
        self.connect_timeout_s = connect_timeout_s
        self._client: httpx.AsyncClient | None = None

    def owner(self, path: str) -> str | None:
        """The service owning ``path``: a prefix of the table, or a path under one."""
        for prefix, service in self.routes:
            if path == prefix or path.startswith(prefix + "/"):
                return service
        return None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                # No read timeout: a reply streams as long as the model writes (the client's
                # disconnect ends it); a function that does not accept the connection fails fast.
                timeout=httpx.Timeout(connect=self.connect_timeout_s, read=None, write=60.0, pool=None),
                limits=httpx.Limits(max_connections=None, max_keepalive_connections=32),
                follow_redirects=False,
                trust_env=False,  # loopback: no HTTP(S)_PROXY from the environment
                cookies=http.cookiejar.CookieJar(policy=_NoCookies()),
            )
            for name in ("accept", "accept-encoding", "user-agent"):  # the browser's own, or none
                del self._client.headers[name]
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        service = self.owner(scope["path"])
        if service is None or service not in self.upstreams:
            await _error(404, "not_found", f"no API serves {scope['path']}")(scope, receive, send)
            return
        name = SERVICE_NAMES.get(service, service)
        request = self._request(scope, receive, self.upstreams[service])
        try:
            upstream = await self.client.send(request, stream=True)
        except _ClientGone:
            return
        except httpx.TimeoutException as exc:
            log.warning("%s: no answer from %s (%s)", scope["path"], name, type(exc).__name__)
            await _error(504, "upstream_timeout", f"the {name} did not answer in time")(scope, receive, send)
            return
        except httpx.TransportError as exc:
            log.warning("%s: the %s is not answering (%s)", scope["path"], name, type(exc).__name__)
            message = f"the {name} is not answering; is it running? (make status)"
            await _error(502, "upstream_unavailable", message)(scope, receive, send)
            return
        await self._relay(upstream, name, receive, send)

    def _request(self, scope: Scope, receive: Receive, base: str) -> httpx.Request:
        raw_headers: list[tuple[bytes, bytes]] = list(scope["headers"])
        incoming = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in raw_headers}
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in _kept(raw_headers, FORWARDING)]
        # The web origin's Host and the browser's Origin reach the function's request guard as if the
        # browser had called it; the client's address and scheme as this server saw them.
        host = incoming.get("host") or "localhost"
        client = scope.get("client")
        headers += [
            ("host", host),
            ("x-forwarded-host", host),
            ("x-forwarded-proto", scope.get("scheme", "http")),
            *([("x-forwarded-for", client[0])] if client else []),
        ]
        target = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        if scope.get("query_string"):
            target += "?" + scope["query_string"].decode("latin-1")
        has_body = "content-length" in incoming or "transfer-encoding" in incoming
        content = self._body(receive) if has_body else None
        return self.client.build_request(scope["method"], base.rstrip("/") + target, headers=headers, content=content)

    @staticmethod
    async def _body(receive: Receive) -> AsyncIterator[bytes]:
        """The request body as the browser sends it (no buffering)."""
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _ClientGone
            more = bool(message.get("more_body", False))
            if message.get("body"):
                yield message["body"]

    @staticmethod
    async def _relay(upstream: httpx.Response, name: str, receive: Receive, send: Send) -> None:
        """The upstream response, chunk by chunk as it arrives, until it ends or the client goes."""
        headers = _kept(upstream.headers.raw, OWN_RESPONSE)
        finished = False
        try:
            async with anyio.create_task_group() as tasks:

                async def watch_disconnect() -> None:
                    # The request body has been sent: what the client says next is that it left.
                    while (await receive())["type"] != "http.disconnect":
                        pass
                    tasks.cancel_scope.cancel()

                tasks.start_soon(watch_disconnect)
                await send({"type": "http.response.start", "status": upstream.status_code, "headers": headers})
                try:
                    async for chunk in upstream.aiter_raw():
                        await send({"type": "http.response.body", "body": chunk, "more_body": True})
                except httpx.TransportError as exc:
                    # Too late for an error response: the connection closes without the last chunk.
                    log.warning("the %s broke off its response (%s)", name, type(exc).__name__)
                    tasks.cancel_scope.cancel()
                    return
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                finished = True
                tasks.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await upstream.aclose()  # unread: its connection closes, and the function sees it
        if not finished:
            log.debug("the client left before the %s finished its response", name)


class WebState:
    """What the web server serves that may change after it is built: ``config.json`` and where the
    functions are (the browser tests learn the APIs' ports after the web server's)."""

    def __init__(self, config: dict[str, Any], proxy: ApiProxy) -> None:
        self.config = json.dumps(config).encode()
        self.proxy = proxy


def create_app(directory: Path = OUT, config: dict[str, Any] | None = None,
               upstreams: Mapping[str, str] | None = None,
               routes: Mapping[str, Sequence[str]] | None = None) -> Starlette:  # fmt: skip
    """The web origin: ``/config.json`` (never cached: a redeploy may change it), ``/api/...`` to
    the functions (``routes``, default ``scripts.local_config.ROUTES``), and the static export
    (a folder per page with trailing slashes, ``404.html`` for unknown paths)."""
    from scripts.local_config import ROUTES

    state = WebState(config or {}, ApiProxy(routes or ROUTES, upstreams or {}))

    async def config_json(_request: Request) -> Response:
        return Response(state.config, media_type="application/json", headers={"Cache-Control": "no-store"})

    async def api(scope: Scope, receive: Receive, send: Send) -> None:
        await state.proxy(scope, receive, send)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        await state.proxy.aclose()

    app = Starlette(
        routes=[
            Route("/config.json", config_json, methods=["GET", "HEAD"]),
            Mount("/api", app=api),
            Mount("/", app=StaticFiles(directory=directory, html=True, check_dir=False)),
        ],
        lifespan=lifespan,
    )
    app.state.web = state
    return app


def uvicorn_config(app: Starlette, **extra: Any) -> uvicorn.Config:
    """The web server's uvicorn: the edge the browser talks to, so the client address is the
    socket's peer (no ``X-Forwarded-*`` taken from the client), no access log."""
    return uvicorn.Config(app, proxy_headers=False, access_log=False, log_level="warning",
                          timeout_graceful_shutdown=2, **extra)  # fmt: skip


class StaticServer:
    """The web origin (:func:`create_app`) on ``host:port`` (0: a free port) in a daemon thread;
    set the config and the upstreams before use."""

    def __init__(self, directory: Path = OUT, config: dict[str, Any] | None = None, *, host: str = "127.0.0.1",
                 port: int = 0, upstreams: Mapping[str, str] | None = None) -> None:  # fmt: skip
        self.app = create_app(directory, config, upstreams)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.port = int(self.sock.getsockname()[1])
        self.server = uvicorn.Server(uvicorn_config(self.app))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    @property
    def state(self) -> WebState:
        state: WebState = self.app.state.web
        return state

    def set_config(self, config: dict[str, Any]) -> None:
        self.state.config = json.dumps(config).encode()

    def set_upstreams(self, upstreams: Mapping[str, str]) -> None:
        self.state.proxy.upstreams = dict(upstreams)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> StaticServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the web server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


def main() -> None:
    from scripts.local_config import ROUTES, LocalSettings

    local = LocalSettings.from_env(os.environ)
    parser = argparse.ArgumentParser(description="Serve the web UI (web/out) and forward /api/... to the functions")
    parser.add_argument("--port", type=int, default=local.web_port)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # config.json: same-origin URLs unless PRISM_WEB_CHAT_URL / _QUERY_URL are set; the functions'
    # ports follow PRISM_CHAT_PORT, PRISM_QUERY_PORT, PRISM_IDENTITY_PORT.
    upstreams = local.upstreams()
    app = create_app(OUT, local.web_config(), upstreams, ROUTES)
    routes = ", ".join(f"{SERVICE_NAMES[s]} {upstreams[s]}" for s in ROUTES)
    print(f"web UI on http://localhost:{args.port} (/api/... to the {routes})", flush=True)
    uvicorn.Server(uvicorn_config(app, host="127.0.0.1", port=args.port)).run()


if __name__ == "__main__":
    main()
