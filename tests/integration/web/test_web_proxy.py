"""The web origin over real sockets, both ways it is served: ``scripts/web.py`` (``make up``
without Docker) and compose's ``web/docker/nginx.conf`` (run by the machine's nginx): the static
export and ``config.json``, and ``/api/...`` forwarded to the function owning each path, both
bodies streamed.

The upstreams are the real query API (real PostgreSQL) and a scripted ASGI app standing in for the
chat and identity paths where the test must control time (tests/support/upstream.py): it sends a
chunk and then waits for an event the test sets, or waits for the client to go away. The real chat
through the proxy (a reply's tokens, an abort, its edge's 4xx):
tests/integration/chat/test_chat_via_web_origin.py.

Without nginx installed the nginx cases are skipped (apt-get install nginx-light).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from scripts.local_config import ROUTES
from scripts.web import StaticServer
from tests.integration.web.conftest import CONFIG
from tests.support.auth import Caller
from tests.support.net import free_port
from tests.support.nginx import NginxOrigin, nginx_binary
from tests.support.upstream import WAIT_S, Scripted


@dataclass
class Origin:
    kind: str  # "web.py" or "nginx"
    url: str


@contextlib.contextmanager
def serve(kind: str, site: Path, upstreams: dict[str, str]) -> Iterator[Origin]:
    if kind == "nginx":
        if nginx_binary() is None:
            pytest.skip("nginx is not installed (apt-get install nginx-light)")
        with NginxOrigin(site, upstreams) as nginx:
            yield Origin(kind, nginx.url)
    else:
        with StaticServer(site, CONFIG, upstreams=upstreams) as web:
            yield Origin(kind, web.url)


@pytest.fixture(scope="module", params=["web.py", "nginx"])
def web(request: pytest.FixtureRequest, site: Path, scripted: tuple[Scripted, str], query_url: str) -> Iterator[Origin]:
    upstreams = {"chat": scripted[1], "identity": scripted[1], "query": query_url}
    with serve(request.param, site, upstreams) as origin:
        yield origin


@pytest.fixture
def client(web: Origin) -> Iterator[httpx.Client]:
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


def test_the_query_api_answers_through_the_proxy_as_it_does_directly(web: Origin, query_url: str,
                                                                     query_session: Caller) -> None:  # fmt: skip
    client = query_session.on(httpx.Client(base_url=web.url, timeout=WAIT_S))  # the session cookie goes through
    signed = query_session.kwargs()
    spec = {"name": "Through the web origin", "spec": {"window": "1h", "panels": []}}
    created = client.post("/api/dashboards", json=spec, headers={"Origin": web.url})  # as the browser sends it
    assert created.status_code == 201, created.text
    dashboard = created.json()
    assert dashboard["name"] == "Through the web origin"
    for path in (f"/api/dashboards/{dashboard['id']}", "/api/dashboards", "/api/metrics/summary?group_by=model"):
        direct = httpx.get(query_url + path, **signed)
        proxied = client.get(path)
        assert (proxied.status_code, proxied.json()) == (direct.status_code, direct.json()), path
        assert proxied.status_code == 200, path
    # a 4xx of the function passes through with its status and body
    for path in ("/api/dashboards/00000000-0000-0000-0000-000000000000", "/api/metrics/summary?group_by=nope"):
        direct = httpx.get(query_url + path, **signed)
        proxied = client.get(path)
        assert 400 <= direct.status_code < 500, path
        assert (proxied.status_code, proxied.json()) == (direct.status_code, direct.json()), path
    bad = client.post("/api/dashboards", content=b"{not json", headers={"Content-Type": "application/json"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "validation_error"
    assert client.delete(f"/api/dashboards/{dashboard['id']}").status_code == 204
    assert client.get(f"/api/dashboards/{dashboard['id']}").status_code == 404
    assert httpx.get(query_url + "/api/dashboards").status_code == 401  # and without the cookie, nothing
    client.close()


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
                                                                        web: Origin) -> None:  # fmt: skip
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
    cookies = ["prism_session=abc; HttpOnly; Path=/; SameSite=Lax", "other=1; Path=/"]
    assert resp.headers.get_list("set-cookie") == cookies
    assert resp.headers["x-kept"] == "yes"
    if web.kind == "web.py":  # nginx drops the hop-by-hop headers, not the ones Connection names
        assert "x-upstream-private" not in resp.headers
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
    assert headers.get("connection", "keep-alive") == "keep-alive"
    if web.kind == "web.py":
        assert "x-private" not in headers
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


def test_a_client_that_goes_away_closes_the_upstream_response(web: Origin, upstream: Scripted) -> None:
    with httpx.Client(base_url=web.url, timeout=WAIT_S) as c, c.stream("GET", "/api/conversations/c1/hold") as resp:
        chunks = resp.iter_raw()  # held: a dropped iterator would close the response at once
        assert next(chunks).startswith(b"data: first")
        assert not upstream.disconnected.is_set()
    # the client's connection is closed here: the upstream sees its own closed in turn
    assert upstream.disconnected.wait(WAIT_S)


# --- a function that is not there ----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["web.py", "nginx"])
def test_a_function_that_is_down_is_a_502_naming_it(kind: str, site: Path, scripted: tuple[Scripted, str],
                                                     query_url: str, query_session: Caller) -> None:  # fmt: skip
    dead = f"http://127.0.0.1:{free_port()}"
    with serve(kind, site, {"chat": scripted[1], "query": query_url, "identity": dead}) as web, \
            httpx.Client(base_url=web.url, timeout=WAIT_S) as c:  # fmt: skip
        for path in ("/api/auth/session", "/api/users", "/api/audit?limit=5"):
            resp = c.get(path)
            assert resp.status_code == 502, path
            error = resp.json()["error"]
            assert error["code"] == "upstream_unavailable" and "identity API" in error["message"]
            assert "127.0.0.1" not in error["message"]  # no internal address
        posted = c.post("/api/auth/login", json={"email": "a@b.c", "password": "x"})
        assert posted.status_code == 502 and posted.json()["error"]["code"] == "upstream_unavailable"
        # the others still answer
        assert c.get("/api/dashboards", **query_session.kwargs()).status_code == 200


def test_a_service_without_an_upstream_is_not_forwarded_anywhere(site: Path, query_url: str) -> None:
    with StaticServer(site, CONFIG, upstreams={"query": query_url}) as web:
        resp = httpx.get(web.url + "/api/models", timeout=WAIT_S)
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "not_found"


def test_the_route_table_names_every_prefix_of_the_issue() -> None:
    assert ROUTES == {
        "chat": ("/api/conversations", "/api/models", "/api/settings"),
        "query": ("/api/metrics", "/api/logs", "/api/dashboards"),
        "identity": ("/api/auth", "/api/users", "/api/keys", "/api/projects", "/api/config", "/api/audit"),
    }
