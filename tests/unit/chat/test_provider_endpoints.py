"""A stored key goes only to the endpoint it was entered for; base URLs are checked on PUT (in-memory
stores, a scripted model: no network)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from chat.app import create_app
from fastapi.testclient import TestClient
from prism.adapters.memory import InMemoryChatStore

from tests.support.auth import signed_in
from tests.unit.chat.conftest import FakeDemo, FakeGateway, make_settings, memory_identity

KEY = "sk-unit-TOPSECRET-abcdefghijklmnop-1234"
LEGIT = "http://127.0.0.1:9/v1"
ATTACKER = "http://127.0.0.1:9311/v1"


@pytest.fixture
def make_client(store: InMemoryChatStore, gateway: FakeGateway) -> Iterator[object]:
    clients: list[TestClient] = []

    def make(**overrides: object) -> TestClient:
        app = create_app(
            make_settings(**overrides),
            store=store,
            credential_store=store,
            gateway=gateway,
            demo=FakeDemo(),  # type: ignore[arg-type]
            identity=memory_identity(),
        )
        client = signed_in(TestClient(app), app.state.identity).__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def _error(resp: object, status: int, code: str) -> str:
    assert resp.status_code == status, resp.text  # type: ignore[attr-defined]
    body = resp.json()  # type: ignore[attr-defined]
    assert body["error"]["code"] == code, body
    assert KEY not in resp.text  # type: ignore[attr-defined]
    return str(body["error"]["message"])


def _turn_call(client: TestClient, gateway: FakeGateway, model: str) -> object:
    cid = client.post("/api/conversations", json={}).json()["id"]
    return client.post(f"/api/conversations/{cid}/messages", json={"content": "secret plans", "model": model})


# --- §2: the key is bound to its endpoint --------------------------------------------------------


def test_changing_the_base_url_without_the_key_is_refused_and_nothing_changes(
    client: TestClient, gateway: FakeGateway, store: InMemoryChatStore
) -> None:
    # GIVEN openai_compatible configured with a key for its endpoint
    put = client.put("/api/settings/providers/openai_compatible", json={"base_url": LEGIT, "api_key": KEY})
    assert put.status_code == 200
    before = dataclasses.replace(store.credentials["openai_compatible"])
    # WHEN the base URL is pointed elsewhere without the key (the stolen-key repro of issue 9)
    resp = client.put("/api/settings/providers/openai_compatible", json={"base_url": ATTACKER, "models": ["m"]})
    # THEN it is a 422 that says what to do, and the stored provider is untouched
    message = _error(resp, 422, "api_key_reentry_required")
    assert "api_key" in message and "base_url" in message
    after = store.credentials["openai_compatible"]
    assert (after.base_url, after.api_key_ciphertext, after.models) == (
        before.base_url,
        before.api_key_ciphertext,
        before.models,
    )
    # and a turn still goes to the endpoint the key was entered for
    resp = _turn_call(client, gateway, "openai_compatible/fake-model")
    assert resp.status_code == 200  # type: ignore[attr-defined]
    assert (gateway.calls[-1].api_base, gateway.calls[-1].api_key) == (LEGIT, KEY)


def test_a_new_base_url_with_the_key_again_or_without_any_key_is_accepted(client: TestClient) -> None:
    client.put("/api/settings/providers/openai_compatible", json={"base_url": LEGIT, "api_key": KEY})
    resp = client.put("/api/settings/providers/openai_compatible", json={"base_url": ATTACKER, "api_key": KEY})
    assert resp.status_code == 200 and resp.json()["has_key"] and resp.json()["base_url"] == ATTACKER
    resp = client.put("/api/settings/providers/openai_compatible", json={"base_url": LEGIT, "api_key": ""})
    assert resp.status_code == 200 and not resp.json()["has_key"]
    # with no key stored there is nothing to take along: the URL may change freely
    resp = client.put("/api/settings/providers/openai_compatible", json={"base_url": ATTACKER})
    assert resp.status_code == 200 and resp.json()["base_url"] == ATTACKER


@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini"])
def test_first_party_providers_take_no_base_url_unless_the_admin_allows_it(
    make_client: object, provider: str, gateway: FakeGateway
) -> None:
    client = make_client()  # type: ignore[operator]
    resp = client.put(f"/api/settings/providers/{provider}", json={"api_key": KEY, "base_url": ATTACKER})
    assert "PRISM_ALLOW_CUSTOM_BASE_URLS" in _error(resp, 422, "base_url_not_allowed")
    assert client.put(f"/api/settings/providers/{provider}", json={"api_key": KEY}).status_code == 200
    _error(client.put(f"/api/settings/providers/{provider}", json={"base_url": ATTACKER}), 422, "base_url_not_allowed")

    allowing = make_client(allow_custom_base_urls=True)  # type: ignore[operator]
    # the key stays bound even so: moving it to another endpoint needs it again
    _error(
        allowing.put(f"/api/settings/providers/{provider}", json={"base_url": ATTACKER}),
        422,
        "api_key_reentry_required",
    )
    resp = allowing.put(f"/api/settings/providers/{provider}", json={"api_key": KEY, "base_url": LEGIT})
    assert resp.status_code == 200 and resp.json()["base_url"] == LEGIT
    model = allowing.get("/api/models").json()["providers"][0]["models"][0]["id"]
    assert _turn_call(allowing, gateway, model).status_code == 200  # type: ignore[attr-defined]
    assert (gateway.calls[-1].api_base, gateway.calls[-1].api_key) == (LEGIT, KEY)

    # switched off again, the stored custom URL is not used (nor silently swapped for the official one)
    model_groups = client.get("/api/models").json()["providers"]
    group = next(g for g in model_groups if g["provider"] == provider)
    assert group["models"] == [] and "PRISM_ALLOW_CUSTOM_BASE_URLS" in group["error"]
    _error(_turn_call(client, gateway, model), 422, "base_url_not_allowed")
    assert len(gateway.calls) == 1


def test_a_key_whose_row_was_pointed_elsewhere_in_the_database_is_not_used(
    client: TestClient, gateway: FakeGateway, store: InMemoryChatStore
) -> None:
    # GIVEN a key stored for LEGIT, and then the row's base_url changed behind the API's back
    client.put("/api/settings/providers/openai_compatible", json={"base_url": LEGIT, "api_key": KEY, "models": ["m"]})
    store.credentials["openai_compatible"].base_url = ATTACKER
    client.app.state.providers.invalidate()  # type: ignore[attr-defined]
    # WHEN a turn would use it THEN the key is not decrypted for the other endpoint
    message = _error(_turn_call(client, gateway, "openai_compatible/m"), 503, "credential_endpoint_mismatch")
    assert "re-enter" in message
    assert gateway.calls == []
    # and copying another provider's token into the row does not work either
    client.put("/api/settings/providers/openai", json={"api_key": KEY})
    store.credentials["openai_compatible"].api_key_ciphertext = store.credentials["openai"].api_key_ciphertext
    store.credentials["openai_compatible"].base_url = LEGIT
    client.app.state.providers.invalidate()  # type: ignore[attr-defined]
    _error(_turn_call(client, gateway, "openai_compatible/m"), 503, "credential_endpoint_mismatch")
    assert gateway.calls == []


# --- §3: base URLs checked on PUT ----------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest",
        "http://[::ffff:169.254.169.254]/latest",
        "http://[::ffff:a9fe:a9fe]/",
        "http://2852039166/",  # 169.254.169.254 as one number
        "http://0xa9.0xfe.0xa9.0xfe/",
        "http://[64:ff9b::a9fe:a9fe]/",
        "http://[fd00:ec2::254]/",
        "http://100.100.100.200/",
        "http://metadata.google.internal/computeMetadata/v1",
        "http://metadata.google.internal./",
        "http://instance-data/latest",
        "http://[fe80::1]/",
    ],
)
def test_metadata_and_link_local_base_urls_are_refused_even_where_private_hosts_are_allowed(
    client: TestClient, url: str
) -> None:
    resp = client.put("/api/settings/providers/openai_compatible", json={"base_url": url})
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "validation_error", resp.text


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:11434/v1",
        "http://localhost:11434/v1",
        "http://[::ffff:127.0.0.1]:11434/v1",
        "http://[::1]:8000/v1",
        "http://127.0.0.1:9001/2018-06-01/runtime",  # the Lambda Runtime API
        "http://10.0.0.7/v1",
        "http://192.168.1.20:8000/v1",
        "http://100.64.1.1/v1",
        "http://[fd12::1]/v1",
    ],
)
def test_loopback_and_private_base_urls_depend_on_the_admin_setting(make_client: object, url: str) -> None:
    body = {"base_url": url}
    cloud = make_client(env="cloud")  # type: ignore[operator]
    message = _error(cloud.put("/api/settings/providers/openai_compatible", json=body), 422, "base_url_not_allowed")
    assert "PRISM_ALLOW_PRIVATE_PROVIDER_HOSTS" in message
    local = make_client(env="local")  # type: ignore[operator]
    assert local.put("/api/settings/providers/openai_compatible", json=body).status_code == 200
    opted_in = make_client(env="cloud", allow_private_provider_hosts=True)  # type: ignore[operator]
    assert opted_in.put("/api/settings/providers/openai_compatible", json=body).status_code == 200
    opted_out = make_client(env="local", allow_private_provider_hosts=False)  # type: ignore[operator]
    _error(opted_out.put("/api/settings/providers/openai_compatible", json=body), 422, "base_url_not_allowed")


def test_a_public_base_url_is_accepted_in_the_cloud(make_client: object) -> None:
    cloud = make_client(env="cloud")  # type: ignore[operator]
    resp = cloud.put("/api/settings/providers/openai_compatible", json={"base_url": "https://openrouter.ai/api/v1"})
    assert resp.status_code == 200
