"""Issue 9, §2 and §3 against the real app: uvicorn, PostgreSQL, LiteLLM's real HTTP path, and
local servers standing in for the attacker, a redirecting endpoint, closed and non-HTTP ports.

Every server here is on 127.0.0.1 (the test settings allow private hosts, as ``make up`` does);
the forbidden ranges are reached only by names an injected resolver answers, and nothing connects
to them."""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import psycopg
import pytest
from chat.egress import EgressPolicy, system_resolve
from chat.model import StoredCredential
from fastapi import FastAPI, Request, Response

from tests.integration.chat.conftest import ChatApi, read_sse
from tests.support.fake_openai import FakeOpenAI
from tests.support.net import ThreadServer, free_port

pytestmark = pytest.mark.usefixtures("ingest")  # prism-sdk ships to the capture server

SECRET = "sk-proj-STOREDkeyFORtheLEGITendpoint-0123-wxyz"
PROMPT = "the quarterly numbers, confidential"


@pytest.fixture(scope="module", autouse=True)
def _litellm_imported() -> None:
    """Import LiteLLM (2 s, over 10 s on a loaded machine) before a turn runs against the 20 s timeout."""
    from chat.gateway import import_litellm

    import_litellm()


@pytest.fixture
def attacker() -> Iterator[FakeOpenAI]:
    """A server that would gladly take the key and the prompt."""
    with FakeOpenAI() as server:
        yield server


def _turn(chat: ChatApi, model: str) -> list[tuple[str, dict[str, Any]]]:
    cid = chat.new_conversation()
    with chat.client.stream(
        "POST", f"/api/conversations/{cid}/messages", json={"content": PROMPT, "model": model}
    ) as resp:
        assert resp.status_code == 200, resp.read()
        return list(read_sse(resp.iter_lines()))


def _use_policy(chat: ChatApi, policy: EgressPolicy) -> None:
    """Swap the app's egress policy (before its first model call: pools are made on first use)."""
    chat.app.state.providers.egress = policy
    chat.app.state.chat.gateway.egress = policy


# --- §2: a stored key goes only where it was entered for ----------------------------------------


def test_the_stolen_key_repro_fails_the_attacker_never_receives_the_key(
    chat: ChatApi, fake: FakeOpenAI, attacker: FakeOpenAI
) -> None:
    # GIVEN openai_compatible configured with a key for the legitimate endpoint
    resp = chat.client.put(
        "/api/settings/providers/openai_compatible",
        json={"base_url": fake.base_url, "api_key": SECRET, "models": ["fake-model"]},
    )
    assert resp.status_code == 200
    # WHEN someone points it at their own server without knowing the key (issue 9's repro)
    resp = chat.client.put(
        "/api/settings/providers/openai_compatible", json={"base_url": attacker.base_url, "models": ["fake-model"]}
    )
    # THEN it is refused with a clear 4xx ...
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "api_key_reentry_required"
    # ... and the next turn still goes, with the key, to the endpoint the key was entered for
    events = _turn(chat, "openai_compatible/fake-model")
    assert events[-1][0] == "done", (events[-1][1].get("code"), events[-1][1].get("message"))
    assert fake.chat_requests[-1].headers["authorization"] == f"Bearer {SECRET}"
    chat.client.get("/api/models")
    assert attacker.requests == []


def test_with_custom_base_urls_allowed_openai_keeps_its_key_bound(
    make_chat: Any, fake: FakeOpenAI, attacker: FakeOpenAI
) -> None:
    # GIVEN first-party providers refuse a base_url by default
    default: ChatApi = make_chat()
    resp = default.client.put("/api/settings/providers/openai", json={"api_key": SECRET, "base_url": attacker.base_url})
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "base_url_not_allowed"
    # AND an admin who allows custom base URLs (a proxy in front of OpenAI)
    chat: ChatApi = make_chat(allow_custom_base_urls=True)
    resp = chat.client.put("/api/settings/providers/openai", json={"api_key": SECRET, "base_url": fake.base_url})
    assert resp.status_code == 200
    # WHEN the base URL is moved without the key THEN it is refused
    resp = chat.client.put("/api/settings/providers/openai", json={"base_url": attacker.base_url})
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "api_key_reentry_required"
    events = _turn(chat, "openai/gpt-4o-mini")
    assert events[-1][0] == "done", (events[-1][1].get("code"), events[-1][1].get("message"))
    assert fake.chat_requests[-1].headers["authorization"] == f"Bearer {SECRET}"
    assert attacker.requests == []


def test_a_row_pointed_elsewhere_in_the_database_does_not_send_the_key(
    chat: ChatApi, fake: FakeOpenAI, attacker: FakeOpenAI, chat_db: str
) -> None:
    chat.configure_fake(fake, api_key=SECRET)
    with psycopg.connect(chat_db, autocommit=True) as conn:
        conn.execute("UPDATE provider_credentials SET base_url = %s", (attacker.base_url,))
    chat.app.state.providers.invalidate()
    cid = chat.new_conversation()
    resp = chat.client.post(
        f"/api/conversations/{cid}/messages", json={"content": PROMPT, "model": "openai_compatible/x"}
    )
    assert resp.status_code == 503 and resp.json()["error"]["code"] == "credential_endpoint_mismatch"
    chat.client.get("/api/models")
    assert attacker.requests == [] and SECRET not in resp.text


# --- §3: redirects ------------------------------------------------------------------------------


@pytest.fixture
def redirector(attacker: FakeOpenAI) -> Iterator[tuple[str, list[str]]]:
    """An endpoint answering every request with a 307 to the attacker's server."""
    hits: list[str] = []
    app = FastAPI()

    @app.api_route("/{path:path}", methods=["GET", "POST"])
    async def redirect(path: str, request: Request) -> Response:
        hits.append(f"{request.method} /{path}")
        return Response(status_code=307, headers={"location": f"{attacker.url}/{path}"})

    with ThreadServer(app) as server:
        yield server.url, hits


def test_redirects_are_refused_the_prompt_never_reaches_the_second_server(
    make_chat: Any, redirector: tuple[str, list[str]], attacker: FakeOpenAI
) -> None:
    url, hits = redirector
    chat: ChatApi = make_chat(allow_custom_base_urls=True)
    # a chat turn through the OpenAI SDK (openai_compatible) ...
    chat.client.put("/api/settings/providers/openai_compatible", json={"base_url": f"{url}/v1", "models": ["m"]})
    kind, data = _turn(chat, "openai_compatible/m")[-1]
    assert (kind, data["code"]) == ("error", "provider_unreachable")
    # ... model discovery ...
    chat.client.put("/api/settings/providers/openai_compatible", json={"base_url": f"{url}/v1"})
    group = chat.client.get("/api/models").json()["providers"][0]
    assert group["models"] == [] and group["error"] == f"could not list the models at {url}/v1"
    # ... and LiteLLM's own HTTP handler (Anthropic behind a custom base URL)
    chat.client.put("/api/settings/providers/anthropic", json={"base_url": url, "api_key": SECRET})
    kind, data = _turn(chat, "anthropic/claude-3-5-haiku-latest")[-1]
    assert (kind, data["code"]) == ("error", "provider_unreachable")
    # ... OpenAI behind a custom base URL, on a model LiteLLM treats specially ...
    chat.client.put("/api/settings/providers/openai", json={"base_url": f"{url}/v1", "api_key": SECRET})
    for model in ("openai/o4-mini", "openai/gpt-4.1"):
        kind, data = _turn(chat, model)[-1]
        assert (kind, data["code"]) == ("error", "provider_unreachable"), (model, data)
    chat.client.put("/api/settings/providers/gemini", json={"base_url": url, "api_key": SECRET})
    kind, data = _turn(chat, "gemini/gemini-2.5-flash")[-1]
    assert (kind, data["code"]) == ("error", "provider_unreachable")
    assert "POST /v1/chat/completions" in hits and "GET /v1/models" in hits and "POST /v1/messages" in hits
    assert any("gemini-2.5-flash" in hit for hit in hits), hits
    assert attacker.requests == []


# --- §3: addresses checked at connect time ------------------------------------------------------


def test_the_ipv4_mapped_loopback_form_is_refused_where_private_hosts_are_not_allowed(
    make_chat: Any, fake: FakeOpenAI
) -> None:
    mapped = f"http://[::ffff:127.0.0.1]:{fake.port}/v1"
    # GIVEN where private hosts are allowed the mapped form does reach the IPv4 server
    local: ChatApi = make_chat()
    local.client.put("/api/settings/providers/openai_compatible", json={"base_url": mapped, "models": ["fake-model"]})
    assert _turn(local, "openai_compatible/fake-model")[-1][0] == "done"
    reached = len(fake.requests)
    assert reached >= 1
    # WHEN the row sits in the store of a cloud deployment (written before the policy, or by hand)
    cloud: ChatApi = make_chat(env="cloud")
    resp = cloud.client.put("/api/settings/providers/openai_compatible", json={"base_url": mapped})
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "base_url_not_allowed"
    cloud.app.state.chat.store.put_credential(StoredCredential("openai_compatible", None, "", mapped, []))
    cloud.app.state.providers.invalidate()
    # THEN neither discovery nor a turn connects to it
    group = cloud.client.get("/api/models").json()["providers"][0]
    assert group["error"] == f"could not list the models at {mapped}"
    kind, data = _turn(cloud, "openai_compatible/fake-model")[-1]
    assert (kind, data["code"]) == ("error", "provider_unreachable")
    assert len(fake.requests) == reached


class _NameResolver:
    """Resolves the test's names to chosen addresses; anything else through the system."""

    def __init__(self, names: dict[str, str]) -> None:
        self.names = names

    async def __call__(self, host: str, port: int) -> Sequence[str]:
        if host in self.names:
            return [self.names[host]]
        return await system_resolve(host, port)


@pytest.mark.parametrize(
    "address", ["169.254.169.254", "::ffff:169.254.169.254", "fd00:ec2::254", "100.100.100.200", "fe80::1"]
)
def test_a_name_resolving_to_a_metadata_address_is_never_connected_to(
    make_chat: Any, address: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a name the save-time check cannot judge (it resolves only at connect time)
    chat: ChatApi = make_chat()
    _use_policy(chat, EgressPolicy(allow_private=True, resolver=_NameResolver({"models.corp.test": address})))
    connects: list[Any] = []
    real_connect = socket.socket.connect

    def spy(sock: socket.socket, addr: Any) -> Any:
        connects.append(addr)
        return real_connect(sock, addr)

    monkeypatch.setattr(socket.socket, "connect", spy)
    resp = chat.client.put("/api/settings/providers/openai_compatible", json={"base_url": "http://models.corp.test/v1"})
    assert resp.status_code == 200
    # WHEN the models are listed and a turn is sent THEN both fail as an unreachable endpoint
    group = chat.client.get("/api/models").json()["providers"][0]
    assert group["error"] == "could not list the models at http://models.corp.test/v1"
    kind, data = _turn(chat, "openai_compatible/anything")[-1]
    assert (kind, data["code"]) == ("error", "provider_unreachable")
    # AND no socket was ever pointed at the metadata address
    assert not [a for a in connects if isinstance(a, tuple) and a[0] in (address, address.split("%")[0])]


# --- §3: one error for every failure ------------------------------------------------------------


@pytest.fixture
def not_http() -> Iterator[int]:
    """A port that answers like an SSH server (a non-HTTP service): RemoteProtocolError."""

    class Banner(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            self.request.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Banner)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


@pytest.fixture
def http_404() -> Iterator[str]:
    app = FastAPI()

    @app.api_route("/{path:path}", methods=["GET", "POST"])
    async def nothing(path: str) -> Response:
        return Response(status_code=404, content=b"<h1>Not Found</h1> nginx")

    with ThreadServer(app) as server:
        yield server.url


def test_every_connection_failure_reads_the_same(
    make_chat: Any, not_http: int, http_404: str, redirector: tuple[str, list[str]]
) -> None:
    chat: ChatApi = make_chat()
    _use_policy(chat, EgressPolicy(allow_private=True, resolver=_NameResolver({"meta.corp.test": "169.254.169.254"})))
    cases = {
        "closed port": f"http://127.0.0.1:{free_port()}/v1",
        "not HTTP": f"http://127.0.0.1:{not_http}/v1",
        "HTTP 404": f"{http_404}/v1",
        "redirect": f"{redirector[0]}/v1",
        "refused by policy": "http://meta.corp.test/v1",
    }
    listing: dict[str, str] = {}
    turns: dict[str, tuple[str, str]] = {}
    for name, url in cases.items():
        assert chat.client.put("/api/settings/providers/openai_compatible", json={"base_url": url}).status_code == 200
        group = chat.client.get("/api/models").json()["providers"][0]
        listing[name] = str(group["error"]).replace(url, "<base_url>")
        if name != "HTTP 404":  # an HTTP answer from an allowed endpoint keeps its meaning in a turn
            kind, data = _turn(chat, "openai_compatible/some-model")[-1]
            assert kind == "error"
            turns[name] = (data["code"], data["message"].replace(url, "<base_url>"))
    # GET /api/models: one message, whatever listens (or not) at the address
    assert set(listing.values()) == {"could not list the models at <base_url>"}, listing
    # a turn: one code and one message for every failure to connect
    assert len(set(turns.values())) == 1, turns
    assert next(iter(turns.values()))[0] == "provider_unreachable"
