"""The web origin (scripts/web.py) on uvicorn over real sockets: the static export and
``config.json``, and ``/api/...`` forwarded to the function owning each path, both bodies streamed.

The upstreams are the real query API (real PostgreSQL) and a scripted ASGI app standing in for the
chat and identity paths where the test must control time: it sends a chunk and then waits for an
event the test sets, or waits for the client to go away. The real chat through the proxy (a
reply's tokens, an abort, its edge's 4xx): tests/integration/chat/test_chat_via_web_origin.py.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import orjson
import pytest
from prism.adapters.files import FileRawPayloadStore
from prism.adapters.postgres_query import PostgresQueryStore
from prism.config import Settings
from query.app import create_app as create_query_app
from starlette.types import Receive, Scope, Send

from scripts.local_config import ROUTES
from scripts.web import StaticServer
from tests.support.net import ThreadServer, free_port

WAIT_S = 10.0  # longest a test waits for something that should happen at once


class Scripted:
    """An upstream whose answers the test drives (raw ASGI, so that nothing buffers)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.release = threading.Event()  # set by the test: the stream may finish
        self.finished = threading.Event()  # the stream's last chunk was sent
        self.disconnected = threading.Event()  # the proxy closed the connection mid-response
        self.first_chunk = threading.Event()  # the first chunk of an upload arrived

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        path = scope["path"]
        record: dict[str, Any] = {
            "method": scope["method"],
            "target": scope["raw_path"].decode() + ("?" + scope["query_string"].decode() if scope["query_string"] else ""),
            "headers": [(k.decode(), v.decode()) for k, v in scope["headers"]],
            "client": scope["client"][0] if scope.get("client") else None,
            "scheme": scope["scheme"],
            "chunks": [],
        }
        self.requests.append(record)
        if path.endswith("/stream"):
            await self._start(send, 200, b"text/event-stream")
            await send({"type": "http.response.body", "body": b"event: delta\ndata: one\n\n", "more_body": True})
            await anyio.to_thread.run_sync(self.release.wait, 30)
            await send({"type": "http.response.body", "body": b"event: done\ndata: two\n\n", "more_body": False})
            self.finished.set()
        elif path.endswith("/hold"):
            await self._start(send, 200, b"text/event-stream")
            await send({"type": "http.response.body", "body": b"data: first\n\n", "more_body": True})
            while (await receive())["type"] != "http.disconnect":
                pass
            self.disconnected.set()
        else:
            more = True
            while more:
                message = await receive()
                more = message.get("more_body", False)
                if message.get("body"):
                    record["chunks"].append(message["body"])
                    self.first_chunk.set()
            body = orjson.dumps({"method": scope["method"], "body": b"".join(record["chunks"]).decode()})
            headers = [
                (b"content-type", b"application/json"),
                (b"set-cookie", b"prism_session=abc; HttpOnly; Path=/; SameSite=Lax"),
                (b"set-cookie", b"other=1; Path=/"),
                (b"connection", b"x-upstream-private"),
                (b"x-upstream-private", b"hop"),
                (b"x-kept", b"yes"),
            ]
            await send({"type": "http.response.start", "status": 201, "headers": headers})
            await send({"type": "http.response.body", "body": body})

    @staticmethod
    async def _start(send: Send, status: int, ctype: bytes) -> None:
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", ctype)]})


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A static export as Next writes it (trailingSlash: one folder per page)."""
    root = tmp_path_factory.mktemp("out")
    (root / "index.html").write_text("<html>home</html>")
    (root / "metrics").mkdir()
    (root / "metrics" / "index.html").write_text("<html>metrics</html>")
    (root / "404.html").write_text("<html>not found page</html>")
    return root


@pytest.fixture(scope="module")
def scripted() -> Iterator[tuple[Scripted, str]]:
    app = Scripted()
    with ThreadServer(app) as server:
        yield app, server.url


@pytest.fixture
def upstream(scripted: tuple[Scripted, str]) -> Scripted:
    app = scripted[0]
    app.requests.clear()
    for event in (app.release, app.finished, app.disconnected, app.first_chunk):
        event.clear()
    return app


@pytest.fixture(scope="module")
def query_url(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    store = PostgresQueryStore(database_url)
    app = create_query_app(Settings(env="test", database_url=database_url), store=store, dashboards=store,
                           raw_store=FileRawPayloadStore(tmp_path_factory.mktemp("raw")))  # fmt: skip
    with ThreadServer(app) as server:
        yield server.url
    store.close()


@pytest.fixture(scope="module")
def web(site: Path, scripted: tuple[Scripted, str], query_url: str) -> Iterator[StaticServer]:
    upstreams = {"chat": scripted[1], "identity": scripted[1], "query": query_url}
    with StaticServer(site, {"chatApiUrl": "", "chatStreamUrl": None, "queryApiUrl": ""}, upstreams=upstreams) as s:
        yield s


@pytest.fixture
def client(web: StaticServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=web.url, timeout=WAIT_S) as c:
        yield c


# --- the static export -------------------------------------------------------------------------


def test_pages_folders_404_page_and_an_uncached_config(client: httpx.Client) -> None:
    assert client.get("/").text == "<html>home</html>"
    assert client.get("/metrics/").text == "<html>metrics</html>"
    moved = client.get("/metrics")
    assert moved.is_redirect and moved.headers["location"].endswith("/metrics/")
    missing = client.get("/nowhere/")
    assert missing.status_code == 404 and missing.text == "<html>not found page</html>"
    config = client.get("/config.json")
    assert config.json() == {"chatApiUrl": "", "chatStreamUrl": None, "queryApiUrl": ""}
    assert config.headers["cache-control"] == "no-store"


def test_an_api_path_no_function_owns_is_a_json_404_not_the_page(client: httpx.Client) -> None:
    for path in ("/api/nothing", "/api/logsx", "/api/"):
        resp = client.get(path)
        assert resp.status_code == 404 and resp.json()["error"]["code"] == "not_found", path


# --- JSON through the proxy --------------------------------------------------------------------


def test_the_query_api_answers_through_the_proxy_as_it_does_directly(client: httpx.Client, query_url: str,
                                                                     web: StaticServer) -> None:  # fmt: skip
    spec = {"name": "Through the web origin", "spec": {"window": "1h", "panels": []}}
    created = client.post("/api/dashboards", json=spec, headers={"Origin": web.url})  # as the browser sends it
    assert created.status_code == 201, created.text
    dashboard = created.json()
    assert dashboard["name"] == "Through the web origin"
    for path in (f"/api/dashboards/{dashboard['id']}", "/api/dashboards", "/api/metrics/summary?group_by=model"):
        direct = httpx.get(query_url + path)
        proxied = client.get(path)
        assert (proxied.status_code, proxied.json()) == (direct.status_code, direct.json()), path
        assert proxied.status_code == 200, path
    # a 4xx of the function passes through with its status and body
    for path in ("/api/dashboards/00000000-0000-0000-0000-000000000000", "/api/metrics/summary?group_by=nope"):
        direct = httpx.get(query_url + path)
        proxied = client.get(path)
        assert 400 <= direct.status_code < 500, path
        assert (proxied.status_code, proxied.json()) == (direct.status_code, direct.json()), path
    bad = client.post("/api/dashboards", content=b"{not json", headers={"Content-Type": "application/json"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "validation_error"
    assert client.delete(f"/api/dashboards/{dashboard['id']}").status_code == 204
    assert client.get(f"/api/dashboards/{dashboard['id']}").status_code == 404


def test_the_query_apis_edge_still_decides_through_the_proxy(client: httpx.Client) -> None:
    # A page of another origin, or a rebinding host name, is refused by the function's guard.
    evil = client.post("/api/dashboards", json={"name": "x"}, headers={"Origin": "http://evil.example"})
    assert evil.status_code == 403 and evil.json()["error"]["code"] == "cross_origin"
    rebound = client.get("/api/dashboards", headers={"Host": "attacker.example"})
    assert rebound.status_code == 400 and rebound.json()["error"]["code"] == "invalid_host"
    # The function's body limit answers an oversize body, announced or chunked.
    big = b'{"name": "' + b"x" * (300 * 1024) + b'"}'
    announced = client.post("/api/dashboards", content=big, headers={"Content-Type": "application/json"})
    assert announced.status_code == 413 and announced.json()["error"]["code"] == "payload_too_large"
    chunked = client.post(
        "/api/dashboards",
        content=(big[i : i + 65536] for i in range(0, len(big), 65536)),
        headers={"Content-Type": "application/json"},
    )
    assert chunked.status_code == 413 and chunked.json()["error"]["code"] == "payload_too_large"


def test_headers_cookies_and_the_clients_address_are_forwarded_sensibly(client: httpx.Client, upstream: Scripted,
                                                                        web: StaticServer) -> None:  # fmt: skip
    resp = client.post(
        "/api/auth/login?next=%2Fchat%2F",
        json={"email": "a@b.c"},
        headers={
            "Cookie": "prism_session=old",
            "Authorization": "Bearer prism_rt_x",
            "X-CSRF-Token": "csrf-1",
            "Origin": web.url,
            "X-Forwarded-For": "6.6.6.6",  # a client's claim: replaced by what the web server saw
            "X-Forwarded-Host": "evil.example",
            "Connection": "keep-alive, x-private",
            "X-Private": "for the next hop only",
        },
    )
    # THEN the status, the body and every Set-Cookie come back unchanged, hop-by-hop headers dropped
    assert resp.status_code == 201 and resp.json() == {"method": "POST", "body": '{"email":"a@b.c"}'}
    assert resp.headers.get_list("set-cookie") == ["prism_session=abc; HttpOnly; Path=/; SameSite=Lax", "other=1; Path=/"]
    assert resp.headers["x-kept"] == "yes" and "x-upstream-private" not in resp.headers
    assert len(resp.headers.get_list("date")) == 1 and len(resp.headers.get_list("server")) == 1
    seen = upstream.requests[-1]
    headers = dict(seen["headers"])
    assert seen["method"] == "POST" and seen["target"] == "/api/auth/login?next=%2Fchat%2F"
    assert headers["cookie"] == "prism_session=old" and headers["authorization"] == "Bearer prism_rt_x"
    assert headers["x-csrf-token"] == "csrf-1" and headers["origin"] == web.url
    assert headers["content-type"] == "application/json"
    host = web.url.removeprefix("http://")
    assert headers["host"] == host and headers["x-forwarded-host"] == host
    assert headers["x-forwarded-for"] == "127.0.0.1" and headers["x-forwarded-proto"] == "http"
    assert [k for k, _ in seen["headers"]].count("x-forwarded-for") == 1
    assert "x-private" not in headers and headers.get("connection", "keep-alive") == "keep-alive"
    # the upstream (uvicorn, trusting its loopback proxy) takes the client from X-Forwarded-For
    assert seen["client"] == "127.0.0.1" and seen["scheme"] == "http"


def test_the_proxy_keeps_no_cookie_of_one_browser_for_the_next(client: httpx.Client, upstream: Scripted) -> None:
    first = client.post("/api/auth/login", json={})
    assert "prism_session=abc" in first.headers["set-cookie"]
    with httpx.Client(base_url=client.base_url, timeout=WAIT_S) as stranger:  # no cookie of its own
        stranger.get("/api/auth/session")
    assert "cookie" not in dict(upstream.requests[-1]["headers"])


def test_the_request_body_goes_up_as_it_arrives(client: httpx.Client, upstream: Scripted) -> None:
    # GIVEN a client that sends its second chunk only once the upstream has the first
    def body() -> Iterator[bytes]:
        yield b'{"part": 1, '
        assert upstream.first_chunk.wait(WAIT_S), "the proxy held the first chunk back"
        yield b'"then": 2}'

    resp = client.post("/api/auth/upload", content=body(), headers={"Content-Type": "application/json"})
    # THEN the upstream got it in pieces, as sent
    assert resp.status_code == 201 and resp.json()["body"] == '{"part": 1, "then": 2}'
    assert len(upstream.requests[-1]["chunks"]) >= 2


# --- streaming ---------------------------------------------------------------------------------


def test_a_stream_arrives_chunk_by_chunk_before_the_upstream_finishes(client: httpx.Client,
                                                                      upstream: Scripted) -> None:  # fmt: skip
    with client.stream("POST", "/api/conversations/c1/stream", json={}) as resp:
        assert resp.status_code == 200 and resp.headers["content-type"] == "text/event-stream"
        chunks = resp.iter_raw()
        first = b""
        while not first.endswith(b"\n\n"):
            first += next(chunks)  # with a buffering proxy this blocks: the upstream waits for `release`
        assert first == b"event: delta\ndata: one\n\n"
        assert not upstream.finished.is_set()
        upstream.release.set()
        rest = b"".join(chunks)
    assert rest == b"event: done\ndata: two\n\n" and upstream.finished.is_set()


def test_a_client_that_goes_away_closes_the_upstream_response(web: StaticServer, upstream: Scripted) -> None:
    with httpx.Client(base_url=web.url, timeout=WAIT_S) as c, c.stream("GET", "/api/conversations/c1/hold") as resp:
        assert next(resp.iter_raw()).startswith(b"data: first")
        assert not upstream.disconnected.is_set()
    # the client's connection is closed here: the upstream sees its own closed in turn
    assert upstream.disconnected.wait(WAIT_S)


# --- a function that is not there ----------------------------------------------------------------


def test_a_function_that_is_down_is_a_502_naming_it(site: Path, query_url: str) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    with StaticServer(site, {}, upstreams={"query": query_url, "identity": dead}) as web, \
            httpx.Client(base_url=web.url, timeout=WAIT_S) as c:  # fmt: skip
        for path in ("/api/auth/session", "/api/users", "/api/audit?limit=5"):
            resp = c.get(path)
            assert resp.status_code == 502, path
            error = resp.json()["error"]
            assert error["code"] == "upstream_unavailable" and "identity API" in error["message"]
            assert "127.0.0.1" not in error["message"]  # no internal address
        posted = c.post("/api/auth/login", json={"email": "a@b.c", "password": "x"})
        assert posted.status_code == 502 and posted.json()["error"]["code"] == "upstream_unavailable"
        # a service with no upstream configured: not forwarded anywhere
        assert c.get("/api/models").status_code == 404
        # the others still answer
        assert c.get("/api/dashboards").status_code == 200


def test_the_route_table_names_every_prefix_of_the_issue() -> None:
    assert ROUTES == {
        "chat": ("/api/conversations", "/api/models", "/api/settings"),
        "query": ("/api/metrics", "/api/logs", "/api/dashboards"),
        "identity": ("/api/auth", "/api/users", "/api/keys", "/api/projects", "/api/config", "/api/audit"),
    }
