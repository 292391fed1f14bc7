"""Settings say what is wrong (issue 14 §3): saving a provider checks its connection by listing its
models with the key, and every provider's state (working, failing with the reason, not configured)
is in the settings and in the model list. Real PostgreSQL; the provider is the fake OpenAI server."""

from __future__ import annotations

import socket
from typing import Any

from tests.support.fake_openai import FakeOpenAI

GOOD_KEY = "sk-good-key-for-the-state-test-0001"
BAD_KEY = "sk-bad-key-for-the-state-test-0002"


def _provider(body: dict[str, Any], pid: str = "openai_compatible") -> dict[str, Any]:
    return next(p for p in body["providers"] if p["id"] == pid)


def _no_internals(text: str) -> None:
    for word in ("litellm", "Error", "Exception", "Traceback", "httpx", "httpcore", "Errno"):
        assert word not in text, text


def test_a_refused_key_is_saved_and_reported_failing_with_the_401(make_chat: Any, fake: FakeOpenAI) -> None:
    chat = make_chat()
    fake.models_key = GOOD_KEY
    resp = chat.client.put(
        "/api/settings/providers/openai_compatible", json={"base_url": fake.base_url, "api_key": BAD_KEY}
    )
    assert resp.status_code == 200, resp.text
    saved = resp.json()
    assert saved["configured"] is True and saved["key_last4"] == "0002"
    assert saved["state"] == "failing"
    assert saved["reason"] == "The provider refused the key (HTTP 401)"
    assert saved["checked_at"] is not None
    assert BAD_KEY not in resp.text
    # The check really listed the models with the key that was saved.
    listing = [r for r in fake.requests if r.path.endswith("/models")]
    assert listing and listing[-1].headers["authorization"] == f"Bearer {BAD_KEY}"

    listed = chat.client.get("/api/settings/providers")
    assert listed.status_code == 200
    assert _provider(listed.json())["state"] == "failing"
    assert _provider(listed.json())["reason"] == "The provider refused the key (HTTP 401)"
    assert _provider(listed.json(), "openai")["state"] == "not_configured"
    models = chat.client.get("/api/models").json()
    group = next(g for g in models["providers"] if g["provider"] == "openai_compatible")
    assert group["state"] == "failing" and group["reason"] == "The provider refused the key (HTTP 401)"
    assert BAD_KEY not in listed.text + str(models)


def test_a_good_key_is_working_and_a_new_key_is_checked_again(make_chat: Any, fake: FakeOpenAI) -> None:
    chat = make_chat()
    fake.models_key = GOOD_KEY
    bad = chat.client.put(
        "/api/settings/providers/openai_compatible", json={"base_url": fake.base_url, "api_key": BAD_KEY}
    )
    assert bad.json()["state"] == "failing"
    good = chat.client.put(
        "/api/settings/providers/openai_compatible", json={"base_url": fake.base_url, "api_key": GOOD_KEY}
    )
    assert good.status_code == 200, good.text
    assert good.json()["state"] == "working" and good.json()["reason"] is None
    assert _provider(chat.client.get("/api/settings/providers").json())["state"] == "working"
    group = next(g for g in chat.client.get("/api/models").json()["providers"] if g["provider"] == "openai_compatible")
    assert group["state"] == "working" and group["reason"] is None
    assert [m["name"] for m in group["models"]] == ["fake-model"]


def test_another_instance_checks_the_saved_provider_itself(make_chat: Any, fake: FakeOpenAI) -> None:
    """A process that did not save the provider (a restart, another Lambda) checks it when asked."""
    saver, other = make_chat(), make_chat()
    fake.models_key = GOOD_KEY
    saver.configure_fake(fake, api_key=BAD_KEY)
    assert _provider(other.client.get("/api/settings/providers").json())["state"] == "failing"
    fake.models_key = None  # the provider now accepts the key: a fresh process sees it working
    assert _provider(make_chat().client.get("/api/settings/providers").json())["state"] == "working"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_provider_is_failing_with_a_plain_reason(make_chat: Any) -> None:
    chat = make_chat()
    port = _closed_port()
    resp = chat.client.put(
        "/api/settings/providers/openai_compatible",
        json={"base_url": f"http://127.0.0.1:{port}/v1", "api_key": GOOD_KEY},
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["state"] == "failing"
    assert body["reason"] == f"Could not reach http://127.0.0.1:{port}: connection refused"
    _no_internals(body["reason"])
    group = next(g for g in chat.client.get("/api/models").json()["providers"] if g["provider"] == "openai_compatible")
    assert group["state"] == "failing" and group["reason"] == body["reason"]


def test_a_refused_address_is_failing_with_the_policy_reason(make_chat: Any) -> None:
    """Saved before the policy changed (allowed then, refused now): the check says why, plainly."""
    chat = make_chat()
    port = _closed_port()
    chat.client.put(
        "/api/settings/providers/openai_compatible",
        json={"base_url": f"http://127.0.0.1:{port}/v1", "api_key": GOOD_KEY},
    )
    strict = make_chat(allow_private_provider_hosts=False)
    state = _provider(strict.client.get("/api/settings/providers").json())
    assert state["state"] == "failing"
    assert state["reason"].startswith(f"Could not reach http://127.0.0.1:{port}: ")
    assert state["reason"].endswith("127.0.0.1 is a private address")
    _no_internals(state["reason"])


def test_deleting_a_provider_makes_it_not_configured(make_chat: Any, fake: FakeOpenAI) -> None:
    chat = make_chat()
    chat.configure_fake(fake)
    assert chat.client.delete("/api/settings/providers/openai_compatible").status_code == 204
    assert _provider(chat.client.get("/api/settings/providers").json())["state"] == "not_configured"
