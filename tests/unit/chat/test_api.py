"""The chat API over HTTP with in-memory stores and a scripted model (no network)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from chat.app import create_app
from chat.errors import ProviderCallError
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prism.adapters.memory import InMemoryChatStore

from tests.support.auth import Callers, run, signed_in
from tests.unit.chat.conftest import FakeDemo, FakeGateway, Script, make_settings, memory_identity, parse_sse

KEY = "sk-unit-TOPSECRET-abcdefghijklmnop-1234"


def _error(resp: object, status: int) -> dict[str, str]:
    assert resp.status_code == status, resp.text  # type: ignore[attr-defined]
    body = resp.json()  # type: ignore[attr-defined]
    assert set(body) == {"error"} and {"code", "message"} <= set(body["error"]), body
    return body["error"]  # type: ignore[no-any-return]


def _configure_compatible(client: TestClient, models: list[str] | None = None) -> None:
    resp = client.put(
        "/api/settings/providers/openai_compatible",
        json={"base_url": "http://127.0.0.1:9/v1", "api_key": KEY, "models": models or ["fake-model"]},
    )
    assert resp.status_code == 200, resp.text


def _turn(client: TestClient, cid: str, content: str = "Hi there", model: str = "demo/prism-demo") -> list:
    resp = client.post(f"/api/conversations/{cid}/messages", json={"content": content, "model": model})
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/event-stream")
    return parse_sse(resp.text)


# --- models and settings -----------------------------------------------------------------------


def test_with_no_provider_the_picker_offers_only_the_labelled_demo_model(client: TestClient) -> None:
    body = client.get("/api/models").json()
    assert [g["provider"] for g in body["providers"]] == ["demo"]
    model = body["providers"][0]["models"][0]
    assert model["id"] == "demo/prism-demo" and model["demo"] is True and "demo" in model["label"].lower()
    assert body["default_model"] == "demo/prism-demo"


@pytest.mark.parametrize(
    ("overrides", "offered"),
    [({"demo_model": False}, False), ({"env": "cloud"}, False), ({"env": "cloud", "demo_model": True}, True)],
)
def test_the_demo_model_is_switchable_and_off_in_the_cloud_unless_enabled(
    overrides: dict[str, object], offered: bool
) -> None:
    store = InMemoryChatStore()
    app = create_app(
        make_settings(**overrides),
        store=store,
        credential_store=store,
        gateway=FakeGateway(),
        demo=FakeDemo(),  # type: ignore[arg-type]
        identity=memory_identity(),
    )
    with signed_in(TestClient(app), app.state.identity) as client:
        groups = client.get("/api/models").json()["providers"]
        assert any(g["provider"] == "demo" for g in groups) is offered
        assert client.get("/api/settings/providers").json()["demo_model"] is offered
        cid = client.post("/api/conversations", json={}).json()["id"]
        resp = client.post(f"/api/conversations/{cid}/messages", json={"content": "x", "model": "demo/prism-demo"})
        assert resp.status_code == (200 if offered else 422)


def test_a_configured_provider_shows_its_models_and_only_the_last_4_of_its_key(
    client: TestClient, store: InMemoryChatStore
) -> None:
    resp = client.put("/api/settings/providers/openai", json={"api_key": KEY})
    assert resp.status_code == 200
    assert KEY not in resp.text and resp.json()["key_last4"] == "1234"
    listed = client.get("/api/settings/providers")
    assert KEY not in listed.text
    openai = next(p for p in listed.json()["providers"] if p["id"] == "openai")
    assert openai["configured"] and openai["has_key"] and openai["key_last4"] == "1234"
    groups = client.get("/api/models").json()["providers"]
    assert [g["provider"] for g in groups] == ["openai", "demo"]
    assert "openai/gpt-4o-mini" in [m["id"] for m in groups[0]["models"]]
    # the store holds only ciphertext
    stored = store.credentials["openai"]
    assert stored.api_key_ciphertext and KEY not in stored.api_key_ciphertext


def test_put_keeps_the_key_when_omitted_and_removes_it_when_empty(client: TestClient) -> None:
    _configure_compatible(client)
    resp = client.put(
        "/api/settings/providers/openai_compatible", json={"base_url": "http://127.0.0.1:9/v1/", "models": ["m2"]}
    )
    assert resp.json()["has_key"] is True and resp.json()["models"] == ["m2"]
    resp = client.put(
        "/api/settings/providers/openai_compatible", json={"base_url": "http://127.0.0.1:8/v1", "api_key": ""}
    )
    assert resp.json()["has_key"] is False and resp.json()["key_last4"] is None
    assert resp.json()["base_url"] == "http://127.0.0.1:8/v1"


def test_delete_a_provider(client: TestClient) -> None:
    _configure_compatible(client)
    assert client.delete("/api/settings/providers/openai_compatible").status_code == 204
    _error(client.delete("/api/settings/providers/openai_compatible"), 404)
    assert [g["provider"] for g in client.get("/api/models").json()["providers"]] == ["demo"]


@pytest.mark.parametrize(
    ("provider", "body", "status", "code"),
    [
        ("openai", {}, 422, "api_key_required"),
        ("openai_compatible", {"api_key": "abc"}, 422, "base_url_required"),
        ("openai_compatible", {"base_url": "not a url"}, 422, "validation_error"),
        ("openai_compatible", {"base_url": "ftp://x/v1"}, 422, "validation_error"),
        ("openai_compatible", {"base_url": "http://169.254.169.254/latest"}, 422, "validation_error"),
        ("openai", {"api_key": "has space"}, 422, "validation_error"),
        ("openai", {"api_key": KEY, "apikey": "typo"}, 422, "validation_error"),
        ("openai", {"api_key": 5}, 422, "validation_error"),
        ("openai", {"api_key": KEY, "models": ["a b"]}, 422, "validation_error"),
        # PostgreSQL cannot store NUL: refused at the edge (the database's error was a 503)
        ("openai", {"api_key": KEY, "models": ["a\x00b"]}, 422, "validation_error"),
        ("openai", {"api_key": KEY, "models": ["a\ufeffb"]}, 422, "validation_error"),
        ("openai", {"api_key": KEY + "\x00"}, 422, "validation_error"),
        ("openai", {"api_key": KEY + "\x1b"}, 422, "validation_error"),
        ("mistral", {"api_key": KEY}, 404, "unknown_provider"),
    ],
)
def test_bad_provider_settings_get_their_4xx(
    client: TestClient, provider: str, body: dict[str, object], status: int, code: str
) -> None:
    resp = client.put(f"/api/settings/providers/{provider}", json=body)
    err = _error(resp, status)
    assert err["code"] == code
    assert KEY not in resp.text


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("delete", "/api/settings/providers/mistral", 404),
        ("delete", "/api/settings/providers/openai", 404),
        ("delete", "/api/settings/providers/" + "x" * 65, 422),
        ("put", "/api/settings/providers/" + "x" * 65, 422),
        ("post", "/api/settings/providers/openai", 405),
    ],
)
def test_bad_provider_routes_get_their_4xx(client: TestClient, method: str, path: str, status: int) -> None:
    _error(client.request(method, path, json={"api_key": KEY} if method == "put" else {}), status)


def test_openapi_documents_the_stream_route(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    op = spec["paths"]["/api/conversations/{conversation_id}/messages"]["post"]
    assert "text/event-stream" in op["responses"]["200"]["content"]
    assert client.get("/docs").status_code == 200


def test_openapi_declares_the_error_shape_the_app_sends(client: TestClient) -> None:
    """Every 4xx/5xx the routes answer is declared, as ``{"error": {...}}``, never FastAPI's
    ``HTTPValidationError`` (which the app does not send)."""
    spec = client.get("/openapi.json").json()
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    paths = spec["paths"]
    for path, method, statuses in [
        ("/api/conversations", "post", {"400", "422"}),
        ("/api/conversations/{conversation_id}", "get", {"404", "422"}),
        ("/api/conversations/{conversation_id}", "patch", {"400", "404", "422"}),
        ("/api/conversations/{conversation_id}", "delete", {"404", "422"}),
        ("/api/conversations/{conversation_id}/messages", "post", {"400", "404", "422", "503"}),
        ("/api/conversations/{conversation_id}/cancel", "post", {"404", "422"}),
        ("/api/settings/providers/{provider}", "put", {"400", "404", "422", "503"}),
        ("/api/settings/providers/{provider}", "delete", {"404", "422"}),
        ("/readyz", "get", {"503"}),
    ]:
        responses = paths[path][method]["responses"]
        assert statuses <= set(responses), (path, method, set(responses))
        for status in statuses:
            ref = responses[status]["content"]["application/json"]["schema"]["$ref"]
            assert ref == "#/components/schemas/ErrorOut", (path, method, status)


def test_cors_allows_the_web_ui_origin(client: TestClient) -> None:
    resp = client.options(
        "/api/conversations",
        headers={"Origin": "http://localhost:3001", "Access-Control-Request-Method": "POST"},
    )
    assert resp.status_code == 200
    assert resp.headers["access-control-allow-origin"] == "http://localhost:3001"
    other = client.get("/api/conversations", headers={"Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in other.headers


def test_malformed_json_is_a_422(client: TestClient) -> None:
    resp = client.put("/api/settings/providers/openai", content=b"{nope", headers={"content-type": "application/json"})
    _error(resp, 422)


def test_storing_a_key_without_PRISM_CREDS_KEY_is_a_503_that_says_so() -> None:
    store = InMemoryChatStore()
    app = create_app(
        make_settings(creds_key=""),
        store=store,
        credential_store=store,
        gateway=FakeGateway(),
        demo=FakeDemo(),  # type: ignore[arg-type]
        identity=memory_identity(),
    )
    with signed_in(TestClient(app), app.state.identity) as client:
        err = _error(client.put("/api/settings/providers/openai", json={"api_key": KEY}), 503)
        assert "PRISM_CREDS_KEY" in err["message"]
        assert client.get("/api/settings/providers").json()["creds_key_configured"] is False


# --- conversations -------------------------------------------------------------------------------


def test_conversation_crud_and_pagination(client: TestClient) -> None:
    ids = [client.post("/api/conversations", json={"title": f"c{i}"}).json()["id"] for i in range(5)]
    untitled = client.post("/api/conversations", json={})
    assert untitled.status_code == 201 and untitled.json()["title"] == ""
    ids.append(untitled.json()["id"])
    page = client.get("/api/conversations?limit=4").json()
    assert [c["id"] for c in page["items"]] == ids[::-1][:4]
    rest = client.get(f"/api/conversations?limit=4&cursor={page['next_cursor']}").json()
    assert [c["id"] for c in rest["items"]] == ids[::-1][4:] and rest["next_cursor"] is None

    renamed = client.patch(f"/api/conversations/{ids[0]}", json={"title": "  Renamed "})
    assert renamed.json()["title"] == "Renamed"
    assert client.get("/api/conversations?limit=1").json()["items"][0]["id"] == ids[0]  # bumped
    assert client.get(f"/api/conversations/{ids[0]}").json()["messages"] == []
    assert client.delete(f"/api/conversations/{ids[0]}").status_code == 204
    _error(client.get(f"/api/conversations/{ids[0]}"), 404)


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("get", "/api/conversations?limit=0", None, 422),
        ("get", "/api/conversations?limit=101", None, 422),
        ("get", "/api/conversations?limit=x", None, 422),
        ("get", "/api/conversations?cursor=garbage", None, 422),
        ("post", "/api/conversations", {"title": "x" * 201}, 422),
        ("post", "/api/conversations", {"nope": 1}, 422),
        ("get", "/api/conversations/not-a-uuid", None, 422),
        ("get", f"/api/conversations/{uuid.uuid4()}", None, 404),
        ("patch", f"/api/conversations/{uuid.uuid4()}", {"title": "x"}, 404),
        ("patch", "/api/conversations/{cid}", {"title": "   "}, 422),
        ("patch", "/api/conversations/{cid}", {}, 422),
        ("delete", f"/api/conversations/{uuid.uuid4()}", None, 404),
        ("delete", "/api/conversations/123", None, 422),
        ("post", f"/api/conversations/{uuid.uuid4()}/cancel", None, 404),
        ("post", "/api/conversations/x/cancel", None, 422),
        ("post", "/api/conversations/{cid}/messages", {"model": "demo/prism-demo"}, 422),
        ("post", "/api/conversations/{cid}/messages", {"content": "", "model": "demo/prism-demo"}, 422),
        ("post", "/api/conversations/{cid}/messages", {"content": " \n", "model": "demo/prism-demo"}, 422),
        ("post", "/api/conversations/{cid}/messages", {"content": 3, "model": "demo/prism-demo"}, 422),
        ("post", "/api/conversations/{cid}/messages", {"content": "hi"}, 422),
        ("post", "/api/conversations/{cid}/messages", {"content": "hi", "model": "gpt-4o"}, 422),
        ("post", "/api/conversations/{cid}/messages", {"content": "hi", "model": "openai/gpt-4o"}, 422),
        ("post", "/api/conversations/{cid}/messages", {"content": "hi", "model": "acme/x"}, 422),
        ("post", "/api/conversations/{cid}/messages", {"content": "hi", "model": "demo/other"}, 422),
        (
            "post",
            f"/api/conversations/{uuid.uuid4()}/messages",
            {"content": "hi", "model": "demo/prism-demo"},
            404,
        ),
        ("put", "/api/conversations/{cid}", {"title": "x"}, 405),
        # NUL characters cannot be stored in PostgreSQL text: 422 at the edge, not a 503 "store unavailable"
        ("post", "/api/conversations", {"title": "a\x00b"}, 422),
        ("patch", "/api/conversations/{cid}", {"title": "a\x00b"}, 422),
        ("post", "/api/conversations/{cid}/messages", {"content": "hi\x00", "model": "demo/prism-demo"}, 422),
        ("post", "/api/conversations/{cid}/messages", {"content": "hi", "model": "openai_compatible/a\x00"}, 422),
        # a cursor of [timestamp, [1]] (not an id) was a 500
        ("get", "/api/conversations?cursor=WyIyMDI0LTAxLTAxVDAwOjAwOjAwKzAwOjAwIixbMV1d", None, 422),
        ("get", "/api/nothing-here", None, 404),
    ],
)
def test_every_route_answers_bad_input_with_its_4xx(
    client: TestClient, method: str, path: str, body: dict[str, object] | None, status: int
) -> None:
    cid = client.post("/api/conversations", json={}).json()["id"]
    resp = client.request(method, path.replace("{cid}", cid), json=body if body is not None or method == "get" else {})
    _error(resp, status)


# --- turns ---------------------------------------------------------------------------------------


def test_a_turn_streams_start_deltas_done_and_stores_both_messages(client: TestClient, gateway: FakeGateway) -> None:
    cid = client.post("/api/conversations", json={}).json()["id"]
    events = _turn(client, cid, "What is Prism, in one line?")
    kinds = [k for k, _ in events]
    assert kinds == ["start", "delta", "delta", "delta", "done"]
    start, done = events[0][1], events[-1][1]
    assert start["conversation_id"] == cid and start["title"] == "What is Prism, in one line?"
    assert "".join(str(d["content"]) for k, d in events if k == "delta") == "Hello!"
    assert done["status"] == "complete" and done["usage"] == {
        "prompt_tokens": 5,
        "completion_tokens": 3,
        "total_tokens": 8,
    }
    assert done["cost_usd"] == 0.00042 and done["latency_ms"] is not None and done["ttft_ms"] is not None
    assert done["inference_event_id"] == str(gateway.streams[0].outcome.inference_event_id)

    conv = client.get(f"/api/conversations/{cid}").json()
    assert conv["title"] == "What is Prism, in one line?" and conv["model"] == "demo/prism-demo"
    user, assistant = conv["messages"]
    assert (user["role"], user["content"], user["status"]) == (
        "user",
        "What is Prism, in one line?",
        "complete",
    )
    assert assistant["id"] == start["message_id"] and assistant["content"] == "Hello!"
    assert assistant["status"] == "complete" and assistant["usage"]["total_tokens"] == 8
    assert assistant["inference_event_id"] == done["inference_event_id"]
    # the SDK gets the conversation and message ids as context
    call = gateway.calls[0]
    assert (call.conversation_id, call.message_id) == (cid, start["message_id"])


def test_a_later_turn_sends_the_history_with_whichever_model_is_picked(
    client: TestClient, gateway: FakeGateway
) -> None:
    _configure_compatible(client)
    cid = client.post("/api/conversations", json={}).json()["id"]
    _turn(client, cid, "first question")
    _turn(client, cid, "second question", model="openai_compatible/fake-model")
    assert gateway.calls[1].messages == [
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "second question"},
    ]
    assert (gateway.calls[1].provider, gateway.calls[1].api_key) == ("openai_compatible", KEY)
    conv = client.get(f"/api/conversations/{cid}").json()
    assert conv["title"] == "first question" and conv["model"] == "openai_compatible/fake-model"


def test_a_provider_failure_is_an_error_event_and_an_error_message(client: TestClient, gateway: FakeGateway) -> None:
    gateway.scripts.append(Script(fail_on_open=ProviderCallError("rate limited, wait", code="provider_rate_limited")))
    gateway.scripts.append(
        Script(chunks=["a", "b", "c"], fail_after=(2, ProviderCallError("cut off", code="provider_unreachable")))
    )
    cid = client.post("/api/conversations", json={}).json()["id"]
    events = _turn(client, cid)
    assert [k for k, _ in events] == ["start", "error"]
    assert events[-1][1]["code"] == "provider_rate_limited" and events[-1][1]["message"] == "rate limited, wait"
    events = _turn(client, cid)
    assert [k for k, _ in events] == ["start", "delta", "delta", "error"]
    messages = client.get(f"/api/conversations/{cid}").json()["messages"]
    assert [m["status"] for m in messages] == ["complete", "error", "complete", "error"]
    assert messages[1]["error"] == {"code": "provider_rate_limited", "message": "rate limited, wait"}
    assert messages[3]["content"] == "ab"


def test_an_oversized_body_is_refused_with_a_413_before_it_is_read(client: TestClient) -> None:
    from chat.app import MAX_BODY_BYTES

    conv = client.post("/api/conversations", json={}).json()["id"]
    big = b'{"content": "' + b"x" * MAX_BODY_BYTES + b'", "model": "demo/prism-demo"}'
    resp = client.post(f"/api/conversations/{conv}/messages", content=big, headers={"content-type": "application/json"})
    assert resp.status_code == 413 and resp.json()["error"]["code"] == "payload_too_large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"title": "'
        for _ in range(MAX_BODY_BYTES // 65536 + 1):
            yield b"y" * 65536
        yield b'"}'

    resp = client.post("/api/conversations", content=chunks(), headers={"content-type": "application/json"})
    assert resp.status_code == 413 and resp.json()["error"]["code"] == "payload_too_large"
    ok = client.post("/api/conversations", content=b'{"title": "fine"}', headers={"content-type": "application/json"})
    assert ok.status_code == 201


# --- who may see and change the providers -------------------------------------------------------


def test_only_admins_see_a_keys_last_four_and_every_provider_change_is_audited(
    app: FastAPI, client: TestClient
) -> None:
    identity = app.state.identity
    # GIVEN a key set by the admin (client) THEN the change is in the audit log, without the key
    assert client.put("/api/settings/providers/openai", json={"api_key": KEY}).status_code == 200
    # WHEN a member lists the providers THEN they see it is configured, not even its last four characters
    member = Callers(identity).session("member").on(TestClient(app))
    listed = {p["id"]: p for p in member.get("/api/settings/providers").json()["providers"]}
    assert listed["openai"]["has_key"] is True and listed["openai"]["key_last4"] is None
    assert KEY[-4:] not in member.get("/api/settings/providers").text
    # AND the admin sees the last four characters only
    admin_view = {p["id"]: p for p in client.get("/api/settings/providers").json()["providers"]}
    assert admin_view["openai"]["key_last4"] == KEY[-4:]
    # AND a member may not change a provider
    assert member.put("/api/settings/providers/openai", json={"api_key": "sk-member"}).status_code == 403
    assert member.delete("/api/settings/providers/openai").status_code == 403
    assert client.delete("/api/settings/providers/openai").status_code == 204
    entries = identity.store.list_audit(None, 10, ("provider.set", "provider.delete"))
    assert [(e.action, e.target) for e in reversed(entries)] == [
        ("provider.set", "openai"),
        ("provider.delete", "openai"),
    ]
    assert {e.actor for e in entries} == {client_user_email(client, identity)}
    assert all(KEY not in str(e.detail) for e in entries)


def client_user_email(client: TestClient, identity: Any) -> str:
    from prism.auth import SESSION_COOKIE

    principal = run(identity.authenticate_session(client.cookies[SESSION_COOKIE], address="testclient"))
    return str(principal.user.email)
