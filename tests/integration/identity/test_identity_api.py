"""The identity function over HTTP against the real PostgreSQL, with a TestClock: the session cookie,
session fixation, logout, expiry and revocation, CSRF, throttling, no enumeration, keys shown once and
stored hashed, the first admin, invites, roles, the audit log, and no secret in any response or log
record."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from identity.app import create_app
from prism.adapters.postgres_identity import PostgresIdentityStore
from prism.auth import CSRF_HEADER, SESSION_COOKIE
from prism.config import Settings
from prism.identity.passwords import Passwords
from prism.identity.service import IdentityPolicy, IdentityService
from prism.ratelimit import RateLimiter

from tests.support.clock import TestClock

ADMIN, ADMIN_PW = "admin@example.com", "first-admin-password"
NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


class App:
    """An identity app on the test database, its clock and its store."""

    def __init__(self, url: str, passwords: Passwords, **settings: Any) -> None:
        limits = {k: settings.pop(k) for k in list(settings) if k.startswith("rate_limit_")}
        self.settings = Settings(**{"database_url": url, "admin_email": ADMIN, "admin_password": ADMIN_PW, **settings})
        self.clock = TestClock(NOW)
        self.store = PostgresIdentityStore(url)
        limiter = RateLimiter(
            "memory://",
            {
                "login_failures": limits.get("rate_limit_login_failures", ""),
                "auth_failures": limits.get("rate_limit_auth_failures", ""),
            },
        )
        policy = IdentityPolicy(password_login=self.settings.password_login_enabled)
        self.identity = IdentityService(
            self.store, passwords=passwords, limiter=limiter, clock=self.clock, policy=policy
        )
        self.app: FastAPI = create_app(self.settings, identity=self.identity)

    def client(self, **kw: Any) -> TestClient:
        return TestClient(self.app, **kw)

    def close(self) -> None:
        self.store.close()


@pytest.fixture
def api(make_app: Any) -> App:
    return make_app()  # type: ignore[no-any-return]


@pytest.fixture
def admin(api: App) -> Iterator[TestClient]:
    with api.client() as client:
        sign_in(client)
        yield client


def sign_in(client: TestClient, email: str = ADMIN, password: str = ADMIN_PW) -> dict[str, Any]:
    r = client.post("/api/auth/login", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    client.headers[CSRF_HEADER] = r.json()["csrf_token"]
    return r.json()  # type: ignore[no-any-return]


def error(r: Any) -> tuple[int, str]:
    return r.status_code, r.json()["error"]["code"]


def invite(admin: TestClient, email: str, role: str = "member") -> dict[str, Any]:
    r = admin.post("/api/users", json={"email": email, "role": role, "method": "password"})
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def member_client(api: App, admin: TestClient, email: str = "m@example.com", role: str = "member") -> TestClient:
    temp = invite(admin, email, role)["temporary_password"]
    client = api.client()
    sign_in(client, email, temp)
    r = client.post("/api/auth/password", json={"current_password": temp, "new_password": "member-password-1"})
    assert r.status_code == 200, r.text
    return client


def audit_actions(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute("SELECT action FROM audit_log ORDER BY id")]


# --- the cookie ---------------------------------------------------------------------------------


def test_login_sets_an_httponly_samesite_lax_cookie(api: App) -> None:
    with api.client() as client:
        r = client.post("/api/auth/login", json={"email": ADMIN, "password": ADMIN_PW})
        assert r.status_code == 200
        cookie = r.headers["set-cookie"]
        token = client.cookies[SESSION_COOKIE]
        assert cookie.startswith(f"{SESSION_COOKIE}={token};")
        parts = {p.strip().split("=")[0].lower() for p in cookie.split(";")}
        assert {"httponly", "path", "max-age"} <= parts and "secure" not in parts
        assert "samesite=lax" in cookie.lower() and "path=/" in cookie.lower()
        body = r.json()
        assert body["user"]["email"] == ADMIN and body["user"]["role"] == "admin" and body["csrf_token"]
        assert token not in r.text and "password" not in {k for k in body["user"] if "hash" in k}
        assert r.headers["cache-control"] == "no-store"
        session = client.get("/api/auth/session")
        assert session.status_code == 200 and session.json()["csrf_token"] == body["csrf_token"]


def test_the_cookie_is_secure_over_https(api: App) -> None:
    with api.client(base_url="https://testserver") as client:
        r = client.post("/api/auth/login", json={"email": ADMIN, "password": ADMIN_PW})
        assert "secure" in {p.strip().lower() for p in r.headers["set-cookie"].split(";")}
    with api.client() as client:  # behind a TLS-terminating proxy
        r = client.post(
            "/api/auth/login", json={"email": ADMIN, "password": ADMIN_PW}, headers={"X-Forwarded-Proto": "https"}
        )
        assert "secure" in {p.strip().lower() for p in r.headers["set-cookie"].split(";")}


def test_a_session_id_presented_before_login_is_not_kept(api: App) -> None:
    with api.client() as client:
        client.cookies.set(SESSION_COOKIE, "chosen-by-an-attacker", domain="testserver.local")
        sign_in(client)
        assert client.cookies[SESSION_COOKIE] != "chosen-by-an-attacker"
        before = client.cookies[SESSION_COOKIE]
        sign_in(client)  # signing in again: a new id, and the old session is ended
        after = client.cookies[SESSION_COOKIE]
        assert after != before
    with api.client(cookies={SESSION_COOKIE: before}) as old:
        assert error(old.get("/api/auth/session")) == (401, "unauthenticated")
    with api.client(cookies={SESSION_COOKIE: after}) as new:
        assert new.get("/api/auth/session").status_code == 200


def test_without_a_session_it_is_401_with_the_error_shape(api: App) -> None:
    with api.client() as client:
        r = client.get("/api/auth/session")
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthenticated" and r.json()["error"]["message"]
        assert error(client.get("/api/users")) == (401, "unauthenticated")
        client.cookies.set(SESSION_COOKIE, "not-a-session")
        assert error(client.get("/api/projects")) == (401, "unauthenticated")


# --- ending sessions ----------------------------------------------------------------------------


def test_logout_ends_the_session_and_clears_the_cookie(api: App, admin: TestClient) -> None:
    token = admin.cookies[SESSION_COOKIE]
    r = admin.post("/api/auth/logout", json={})
    assert r.status_code == 204
    assert f'{SESSION_COOKIE}=""' in r.headers["set-cookie"] or "max-age=0" in r.headers["set-cookie"].lower()
    with api.client(cookies={SESSION_COOKIE: token}) as replay:
        assert error(replay.get("/api/auth/session")) == (401, "unauthenticated")


def test_logout_everywhere_ends_every_session_of_the_user(api: App, admin: TestClient) -> None:
    with api.client() as laptop:
        sign_in(laptop)
        assert admin.post("/api/auth/logout-everywhere", json={}).status_code == 204
        assert error(laptop.get("/api/auth/session")) == (401, "unauthenticated")
    assert error(admin.get("/api/auth/session")) == (401, "unauthenticated")


def test_idle_and_expired_sessions_end(api: App, admin: TestClient) -> None:
    api.clock.advance(hours=23)
    assert admin.get("/api/auth/session").status_code == 200
    api.clock.advance(hours=24, seconds=1)
    assert error(admin.get("/api/auth/session")) == (401, "unauthenticated")
    sign_in(admin)
    for _ in range(13):
        api.clock.advance(hours=12)
        assert admin.get("/api/projects").status_code == 200
    api.clock.advance(hours=12)  # 168 h after sign-in, however active
    assert error(admin.get("/api/projects")) == (401, "unauthenticated")


def test_disabling_a_user_revokes_their_session_at_once(api: App, admin: TestClient) -> None:
    member = member_client(api, admin)
    me = member.get("/api/auth/session").json()["user"]
    assert member.get("/api/projects").status_code == 200
    r = admin.patch(f"/api/users/{me['id']}", json={"disabled": True})
    assert r.status_code == 200 and r.json()["disabled"] is True
    assert error(member.get("/api/projects")) == (401, "unauthenticated")
    r = member.post("/api/auth/login", json={"email": "m@example.com", "password": "member-password-1"})
    assert error(r) == (401, "invalid_credentials")


# --- CSRF ---------------------------------------------------------------------------------------


def test_cookie_authenticated_changes_need_the_csrf_token(api: App, admin: TestClient) -> None:
    good = admin.headers.pop(CSRF_HEADER)
    body = {"slug": "prod", "name": "Production"}
    assert error(admin.post("/api/projects", json=body)) == (403, "csrf_failed")
    assert error(admin.post("/api/projects", json=body, headers={CSRF_HEADER: "x" * 64})) == (403, "csrf_failed")
    assert error(admin.delete("/api/projects/chat")) == (403, "csrf_failed")
    assert error(admin.post("/api/auth/logout", json={})) == (403, "csrf_failed")  # even signing out
    r = admin.post("/api/projects", json=body, headers={CSRF_HEADER: good, "Origin": "https://evil.example"})
    assert error(r) == (403, "cross_origin")  # prism.http.RequestGuard, before any route
    assert admin.post("/api/projects", json=body, headers={CSRF_HEADER: good}).status_code == 201
    assert admin.get("/api/projects").status_code == 200  # reads need none


def test_another_sessions_csrf_token_does_not_do(api: App, admin: TestClient) -> None:
    with api.client() as other:
        other_token = sign_in(other)["csrf_token"]
    r = admin.post("/api/projects", json={"slug": "x", "name": "X"}, headers={CSRF_HEADER: other_token})
    assert error(r) == (403, "csrf_failed")


# --- sign-in failures ---------------------------------------------------------------------------


def test_no_user_enumeration(api: App, admin: TestClient) -> None:
    member_client(api, admin)
    admin.patch(f"/api/users/{_user_id(admin, 'm@example.com')}", json={"disabled": True})
    answers = []
    with api.client() as client:
        for email, password in (
            (ADMIN, "wrong-password-here"),
            ("nobody@example.com", "wrong-password-here"),
            ("m@example.com", "member-password-1"),  # disabled, right password
        ):
            r = client.post("/api/auth/login", json={"email": email, "password": password})
            answers.append((r.status_code, r.json()))
    assert answers[0] == answers[1] == answers[2]
    assert answers[0][0] == 401 and answers[0][1]["error"]["code"] == "invalid_credentials"


def _user_id(admin: TestClient, email: str) -> str:
    return next(u["id"] for u in admin.get("/api/users").json() if u["email"] == email)


def test_failed_sign_ins_are_throttled_per_address(make_app: Any) -> None:
    api = make_app(rate_limit_login_failures="3/minute")
    with api.client() as client:
        for email in ("a@example.com", "b@example.com", ADMIN):
            r = client.post("/api/auth/login", json={"email": email, "password": "wrong-password-here"})
            assert error(r) == (401, "invalid_credentials")
        r = client.post("/api/auth/login", json={"email": ADMIN, "password": ADMIN_PW})
        assert error(r) == (429, "rate_limited") and int(r.headers["retry-after"]) >= 1
    with api.client(client=("198.51.100.7", 1234)) as elsewhere:
        assert (
            elsewhere.post("/api/auth/login", json={"email": "x@example.com", "password": ADMIN_PW}).status_code == 401
        )


def test_failed_sign_ins_are_throttled_per_account_from_any_address(make_app: Any) -> None:
    api = make_app(rate_limit_login_failures="3/minute")
    for i in range(3):
        with api.client(client=(f"198.51.100.{i}", 1234)) as client:
            r = client.post("/api/auth/login", json={"email": ADMIN, "password": "wrong-password-here"})
            assert r.status_code == 401
    with api.client(client=("203.0.113.1", 1234)) as client:
        r = client.post("/api/auth/login", json={"email": ADMIN, "password": ADMIN_PW})
        assert error(r) == (429, "rate_limited") and "retry-after" in r.headers


def test_wrong_read_tokens_are_throttled_per_address(make_app: Any) -> None:
    api = make_app(rate_limit_auth_failures="2/minute")
    with api.client() as client:
        for _ in range(2):
            r = client.get("/api/projects", headers={"Authorization": "Bearer prism_rt_guessing"})
            assert error(r) == (401, "unauthenticated")
        assert error(client.get("/api/projects", headers={"Authorization": "Bearer prism_rt_x"})) == (
            429,
            "rate_limited",
        )


def test_password_login_can_be_off(make_app: Any) -> None:
    api = make_app(password_login="off")
    with api.client() as client:
        assert client.get("/api/auth/providers").json() == {"password": False, "oidc": False}
        r = client.post("/api/auth/login", json={"email": ADMIN, "password": ADMIN_PW})
        assert error(r) == (403, "password_login_off")


# --- the first admin, invites -------------------------------------------------------------------


def test_the_first_admin_is_created_at_start_once(make_app: Any, identity_db: str) -> None:
    api = make_app()
    with api.client() as client:
        sign_in(client)
    again = make_app(admin_email="second@example.com")
    with again.client() as client:
        r = client.post("/api/auth/login", json={"email": "second@example.com", "password": ADMIN_PW})
        assert r.status_code == 401
    with psycopg.connect(identity_db) as conn:
        assert conn.execute("SELECT email, role FROM users").fetchall() == [(ADMIN, "admin")]


def test_a_temporary_password_must_be_changed_first(api: App, admin: TestClient) -> None:
    temp = invite(admin, "t@example.com", "viewer")["temporary_password"]
    with api.client() as client:
        body = sign_in(client, "t@example.com", temp)
        assert body["user"]["must_change_password"] is True
        assert error(client.get("/api/projects")) == (403, "password_change_required")
        assert client.get("/api/auth/session").status_code == 200
        r = client.post("/api/auth/password", json={"current_password": temp, "new_password": "viewer-password-1"})
        assert r.status_code == 200 and r.json()["user"]["must_change_password"] is False
        assert client.get("/api/projects").status_code == 200


def test_an_invite_link_signs_in_once(api: App, admin: TestClient) -> None:
    r = admin.post("/api/users", json={"email": "new@example.com", "role": "member"})
    assert r.status_code == 201
    out = r.json()
    assert out["temporary_password"] is None and out["invite_url"] == f"/login/?invite={out['invite_token']}"
    assert out["user"]["pending_invite"] is True
    with api.client() as client:
        r = client.post("/api/auth/invite/accept", json={"token": out["invite_token"], "password": "chosen-password-1"})
        assert r.status_code == 200 and r.json()["user"]["email"] == "new@example.com"
        client.headers[CSRF_HEADER] = r.json()["csrf_token"]
        assert client.get("/api/auth/session").json()["user"]["role"] == "member"
        again = client.post("/api/auth/invite/accept", json={"token": out["invite_token"], "password": "x" * 12})
        assert error(again) == (401, "invalid_invite")


# --- roles --------------------------------------------------------------------------------------


def test_only_admins_manage(api: App, admin: TestClient) -> None:
    member = member_client(api, admin)
    for method, path, body in (
        ("GET", "/api/users", None),
        ("POST", "/api/users", {"email": "z@example.com"}),
        ("GET", "/api/keys", None),
        ("POST", "/api/keys", {"kind": "read", "name": "x"}),
        ("POST", "/api/projects", {"slug": "p", "name": "P"}),
        ("PUT", "/api/config/chat-project", {"project": "default"}),
        ("GET", "/api/audit", None),
    ):
        assert error(member.request(method, path, json=body)) == (403, "forbidden"), path
    assert member.get("/api/projects").status_code == 200
    assert member.get("/api/config/chat-project").json() == {"project": "chat"}


def test_the_last_admin_cannot_be_demoted(admin: TestClient) -> None:
    me = admin.get("/api/auth/session").json()["user"]
    assert error(admin.patch(f"/api/users/{me['id']}", json={"role": "member"})) == (409, "last_admin")
    assert error(admin.delete(f"/api/users/{me['id']}")) == (409, "self_change")
    assert error(admin.patch("/api/users/00000000-0000-0000-0000-000000000000", json={"role": "viewer"})) == (
        404,
        "user_not_found",
    )


# --- keys ---------------------------------------------------------------------------------------


def test_keys_are_shown_once_and_stored_hashed(api: App, admin: TestClient, identity_db: str) -> None:
    r = admin.post("/api/keys", json={"kind": "ingest", "name": "prod app", "project": "default"})
    assert r.status_code == 201
    ingest = r.json()
    assert ingest["token"].startswith(ingest["prefix"] + "_") and ingest["status"] == "active"
    read = admin.post("/api/keys", json={"kind": "read", "name": "notebook"}).json()
    listed = admin.get("/api/keys")
    assert {k["prefix"] for k in listed.json()} == {ingest["prefix"], read["prefix"]}
    assert ingest["token"] not in listed.text and read["token"] not in listed.text and "token" not in listed.json()[0]
    with psycopg.connect(identity_db) as conn:
        rows = conn.execute("SELECT prefix, secret_hash::text, name FROM api_keys").fetchall()
        assert len(rows) == 2 and not any(t in str(rows) for t in (ingest["token"], read["token"]))
        everything = str(conn.execute("SELECT * FROM api_keys").fetchall())
        assert ingest["token"][22:] not in everything  # the secret part (after prism_ik_<id12>_)
    assert error(admin.post("/api/keys", json={"kind": "ingest", "name": "x", "project": "nope"})) == (
        404,
        "project_not_found",
    )


def test_a_read_token_reads_as_its_user_and_changes_nothing(api: App, admin: TestClient) -> None:
    read = admin.post("/api/keys", json={"kind": "read", "name": "notebook"}).json()
    ingest = admin.post("/api/keys", json={"kind": "ingest", "name": "app", "project": "chat"}).json()
    with api.client() as script:
        bearer = {"Authorization": f"Bearer {read['token']}"}
        me = script.get("/api/auth/session", headers=bearer)
        assert me.status_code == 200 and me.json()["user"]["email"] == ADMIN and me.json()["csrf_token"] is None
        assert script.get("/api/projects", headers=bearer).status_code == 200
        assert error(script.get("/api/users", headers=bearer)) == (403, "forbidden")  # capped at member
        r = script.post("/api/projects", json={"slug": "p", "name": "P"}, headers=bearer)
        assert error(r) == (403, "forbidden")
        r = script.get("/api/projects", headers={"Authorization": f"Bearer {ingest['token']}"})
        assert error(r) == (403, "forbidden")
        assert error(script.get("/api/projects", headers={"Authorization": "Basic abc"})) == (401, "unauthenticated")
        assert admin.delete(f"/api/keys/{read['id']}").status_code == 204
        assert error(script.get("/api/projects", headers=bearer)) == (401, "unauthenticated")
        assert error(admin.delete(f"/api/keys/{read['id']}")) == (404, "key_not_found")
    statuses = {k["prefix"]: k["status"] for k in admin.get("/api/keys").json()}
    assert statuses[read["prefix"]] == "revoked"


def test_an_expired_key_stops_working(api: App, admin: TestClient) -> None:
    expires = (NOW + timedelta(hours=1)).isoformat()
    read = admin.post("/api/keys", json={"kind": "read", "name": "temp", "expires_at": expires}).json()
    with api.client() as script:
        bearer = {"Authorization": f"Bearer {read['token']}"}
        assert script.get("/api/projects", headers=bearer).status_code == 200
        api.clock.advance(hours=1)
        assert error(script.get("/api/projects", headers=bearer)) == (401, "unauthenticated")


# --- projects, the audit log --------------------------------------------------------------------


def test_projects_and_the_chat_project(admin: TestClient) -> None:
    assert error(admin.post("/api/projects", json={"slug": "Bad Slug", "name": "x"})) == (422, "validation_error")
    assert admin.post("/api/projects", json={"slug": "support-bot", "name": "Support bot"}).status_code == 201
    assert error(admin.post("/api/projects", json={"slug": "support-bot", "name": "x"})) == (409, "project_exists")
    assert admin.patch("/api/projects/support-bot", json={"name": "Support"}).json()["name"] == "Support"
    assert admin.put("/api/config/chat-project", json={"project": "support-bot"}).json() == {"project": "support-bot"}
    assert error(admin.delete("/api/projects/support-bot")) == (409, "project_in_use")
    assert error(admin.delete("/api/projects/default")) == (409, "project_in_use")
    assert error(admin.put("/api/config/chat-project", json={"project": "nope"})) == (404, "project_not_found")
    admin.put("/api/config/chat-project", json={"project": "chat"})
    assert admin.delete("/api/projects/support-bot").status_code == 204
    assert [p["slug"] for p in admin.get("/api/projects").json()] == ["chat", "default"]


def test_every_security_action_is_audited(api: App, admin: TestClient, identity_db: str) -> None:
    with api.client() as client:
        client.post("/api/auth/login", json={"email": ADMIN, "password": "wrong-password-here"})
    user = invite(admin, "a@example.com")["user"]
    admin.patch(f"/api/users/{user['id']}", json={"role": "viewer"})
    admin.patch(f"/api/users/{user['id']}", json={"disabled": True})
    key = admin.post("/api/keys", json={"kind": "ingest", "name": "k", "project": "default"}).json()
    admin.delete(f"/api/keys/{key['id']}")
    admin.post("/api/projects", json={"slug": "p1", "name": "P1"})
    admin.delete(f"/api/users/{user['id']}")
    admin.post("/api/auth/logout", json={})
    actions = audit_actions(identity_db)
    for action in ("user.bootstrap", "login", "login.failed", "user.invite", "user.role", "user.disable",
                   "key.create", "key.revoke", "project.create", "user.delete", "logout"):  # fmt: skip
        assert action in actions, action
    sign_in(admin)
    page = admin.get("/api/audit", params={"limit": 3})
    assert page.status_code == 200 and len(page.json()["items"]) == 3 and page.json()["next_cursor"]
    older = admin.get("/api/audit", params={"limit": 3, "cursor": page.json()["next_cursor"]}).json()["items"]
    assert older[0]["id"] < page.json()["items"][-1]["id"]
    failed = admin.get("/api/audit", params={"action": "login.failed"}).json()["items"]
    assert failed[0]["actor"] == ADMIN and failed[0]["address"] == "testclient"
    assert key["token"] not in page.text + str(older)


def test_no_secret_in_a_response_or_a_log_record(
    api: App, admin: TestClient, identity_db: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secrets = [ADMIN_PW, admin.cookies[SESSION_COOKIE]]
    key = admin.post("/api/keys", json={"kind": "read", "name": "nb"}).json()
    temp = invite(admin, "s@example.com")["temporary_password"]
    secrets += [key["token"], temp]
    with api.client() as client:
        body = sign_in(client, "s@example.com", temp)
        secrets += [client.cookies[SESSION_COOKIE]]
        client.post("/api/auth/password", json={"current_password": temp, "new_password": "secret-new-password"})
        secrets += ["secret-new-password"]
        client.post("/api/auth/login", json={"email": "s@example.com", "password": "a-wrong-secret-guess"})
        secrets += ["a-wrong-secret-guess"]
        answers = [
            admin.get(p).text for p in ("/api/users", "/api/keys", "/api/audit?limit=200", "/api/auth/session")
        ] + [str(body)]
    logged = caplog.text + " ".join(str(r.args) for r in caplog.records)
    with psycopg.connect(identity_db) as conn:
        audit = str(conn.execute("SELECT * FROM audit_log").fetchall())
    for secret in secrets:
        assert secret not in logged and secret not in audit
        assert all(secret not in a for a in answers)
    assert "password_hash" not in answers[0] and "$argon2" not in answers[0]


def test_the_openapi_document_shows_the_routes(api: App) -> None:
    with api.client() as client:
        doc = client.get("/openapi.json").json()
    paths = doc["paths"]
    for path in ("/api/auth/login", "/api/auth/logout", "/api/auth/logout-everywhere", "/api/auth/session",
                 "/api/auth/password", "/api/auth/invite/accept", "/api/auth/providers", "/api/users",
                 "/api/users/{user_id}", "/api/keys", "/api/keys/{key_id}", "/api/projects", "/api/projects/{slug}",
                 "/api/config/chat-project", "/api/audit"):  # fmt: skip
        assert path in paths, path
    assert doc["components"]["schemas"]["SessionOut"]["properties"].keys() == {"user", "csrf_token"}
    assert "session" in doc["components"]["securitySchemes"] and "readToken" in doc["components"]["securitySchemes"]
    assert "401" in paths["/api/users"]["get"]["responses"] and "403" in paths["/api/users"]["get"]["responses"]


def test_the_app_from_the_composition_root(identity_db: str) -> None:
    """create_app(settings) alone: prism.bootstrap builds the service (argon2id at its real cost)."""
    settings = Settings(database_url=identity_db, admin_email="root@example.com", admin_password="root-password-1")
    app = create_app(settings)
    with TestClient(app) as client:
        r = client.post("/api/auth/login", json={"email": "root@example.com", "password": "root-password-1"})
        assert r.status_code == 200 and r.json()["user"]["role"] == "admin"
    with psycopg.connect(identity_db) as conn:
        (hashed,) = conn.execute("SELECT password_hash FROM users").fetchone() or ("",)
    assert hashed.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    app.state.identity.store.close()
