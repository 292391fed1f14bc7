"""Single sign-on end to end (issue 11 §2): the identity app (real PostgreSQL) against a real OpenID
provider the tests start (panva's oidc-provider, tests/support/oidc): it signs its ID tokens, binds
codes to the PKCE challenge and the nonce, and spends each code once. The browser is an httpx client
following the redirects by hand: /api/auth/oidc/login -> the provider -> its sign-in interaction ->
the callback -> a session.

The app's clock is the wall clock, since the provider stamps its tokens with real time (an ID token
issued "in the future" of a frozen clock is refused); a test moves it forward by minutes explicitly,
none depends on the date or on how long a step takes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import httpx
import psycopg
import pytest
from cryptography.fernet import Fernet
from fastapi import FastAPI
from fastapi.testclient import TestClient
from identity.app import create_app
from identity.oidc import OIDCClient, OIDCConfig, OIDCTokenInvalidError, PendingLogin
from identity.routes.oidc import LOGIN_COOKIE
from prism.adapters.postgres_identity import PostgresIdentityStore
from prism.auth import SESSION_COOKIE
from prism.config import Settings
from prism.identity.passwords import Passwords
from prism.identity.service import IdentityPolicy, IdentityService
from prism.ratelimit import RateLimiter

from tests.support.net import free_port
from tests.support.oidc_provider import CALLBACK, OTHER_CLIENT, PRISM_CLIENT, OIDCProvider

pytestmark = pytest.mark.anyio


@dataclass
class WallClock:
    """The wall clock, moved forward by ``advance`` (a Clock)."""

    offset: timedelta = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, **delta: float) -> None:
        self.offset += timedelta(**delta)


class App:
    """An identity app on the test database with single sign-on configured (``**settings`` override)."""

    def __init__(self, url: str, passwords: Passwords, idp: OIDCProvider, **settings: Any) -> None:
        oidc: dict[str, Any] = {
            "admin_email": "admin@example.com",
            "oidc_issuer": idp.issuer,
            "oidc_client_id": PRISM_CLIENT.client_id,
            "oidc_client_secret": PRISM_CLIENT.client_secret,
            "oidc_scopes": "openid email profile groups",
            "oidc_role_map": "prism-admins=admin,prism-members=member",
        }
        self.settings = Settings(database_url=url, **{**oidc, **settings})
        self.clock = WallClock()
        self.store = PostgresIdentityStore(url)
        policy = IdentityPolicy(password_login=self.settings.password_login_enabled)
        limiter = RateLimiter("memory://", {"login_failures": "", "auth_failures": ""})
        self.identity = IdentityService(
            self.store, passwords=passwords, limiter=limiter, clock=self.clock, policy=policy
        )
        self.app: FastAPI = create_app(self.settings, identity=self.identity)
        self.oidc: OIDCClient = self.app.state.oidc

    def browser(self, **kw: Any) -> TestClient:
        return TestClient(self.app, follow_redirects=False, **kw)


@pytest.fixture
def make_app(identity_db: str, fast_passwords: Passwords, oidc_provider: OIDCProvider) -> Iterator[Any]:
    made: list[App] = []

    def make(**settings: Any) -> App:
        made.append(App(identity_db, fast_passwords, oidc_provider, **settings))
        return made[-1]

    yield make
    for a in made:
        a.store.close()


@pytest.fixture
def api(make_app: Any) -> App:
    return make_app()  # type: ignore[no-any-return]


def start(browser: TestClient) -> str:
    """GET /api/auth/oidc/login: the provider's authorization URL."""
    r = browser.get("/api/auth/oidc/login")
    assert r.status_code == 302, r.text
    return r.headers["location"]  # type: ignore[no-any-return]


def at_provider(idp: OIDCProvider, authorization_url: str, login: str = "alice") -> str:
    """The user signs in at the provider: the callback URL it sends the browser back to."""
    with httpx.Client(timeout=10) as provider_browser:
        back = idp.sign_in(provider_browser, authorization_url, login)
    assert back.startswith(CALLBACK + "?"), back
    return back


def sso(browser: TestClient, idp: OIDCProvider, login: str = "alice") -> httpx.Response:
    """The whole single sign-on of ``login``: the callback's response."""
    return browser.get(at_provider(idp, start(browser), login))


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlparse(url).query).items()}


def with_query(url: str, **params: str) -> str:
    return url.split("?", 1)[0] + "?" + urlencode({**query(url), **params})


def error(r: httpx.Response) -> tuple[int, str]:
    return r.status_code, r.json()["error"]["code"]


def signed_in(browser: TestClient) -> dict[str, Any]:
    r = browser.get("/api/auth/session")
    assert r.status_code == 200, r.text
    return r.json()["user"]  # type: ignore[no-any-return]


def set_login_cookie(browser: TestClient, value: str) -> None:
    """Replace the login cookie the browser holds (TestClient's host is ``testserver.local`` to the jar)."""
    browser.cookies.delete(LOGIN_COOKIE)
    browser.cookies.set(LOGIN_COOKIE, value, domain="testserver.local", path="/api/auth/oidc")


def users(url: str) -> list[tuple[str, str, str | None]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT email, role, oidc_subject FROM users ORDER BY email").fetchall()
    return [(r[0], r[1], r[2]) for r in rows]


# --- the flow -----------------------------------------------------------------------------------


def test_sign_in_through_the_provider_with_the_group_mapped_to_a_role(api: App, oidc_provider: OIDCProvider) -> None:
    with api.browser() as browser:
        authorization = start(browser)
        asked = query(authorization)
        assert authorization.startswith(oidc_provider.issuer + "/auth?")
        assert asked["response_type"] == "code" and asked["client_id"] == "prism"
        assert asked["code_challenge_method"] == "S256" and len(asked["code_challenge"]) == 43
        assert asked["redirect_uri"] == CALLBACK and asked["state"] and asked["nonce"]
        assert asked["scope"] == "openid email profile groups"

        r = browser.get(at_provider(oidc_provider, authorization, "alice"))
        assert r.status_code == 302 and r.headers["location"] == "/"
        assert browser.cookies.get(SESSION_COOKIE)
        assert LOGIN_COOKIE not in browser.cookies  # spent
        user = signed_in(browser)
    assert (user["email"], user["name"], user["role"], user["sso"]) == (
        "alice@example.com",
        "Alice Admin",
        "admin",
        True,
    )


def test_the_login_cookie_is_sealed_httponly_and_short_lived(api: App) -> None:
    with api.browser() as browser:
        r = browser.get("/api/auth/oidc/login")
        cookie = r.headers["set-cookie"]
        asked = query(r.headers["location"])
    attributes = [a.strip().lower() for a in cookie.split(";")]
    assert cookie.startswith(f"{LOGIN_COOKIE}=")
    assert {"httponly", "samesite=lax", "path=/api/auth/oidc", "max-age=600"} <= set(attributes)
    assert "secure" not in attributes  # plain http here; see the https test
    value = cookie.split(";", 1)[0].split("=", 1)[1]
    assert asked["state"] not in value and asked["nonce"] not in value  # encrypted, not just signed
    assert r.headers["cache-control"] == "no-store"


def test_over_https_the_cookie_is_secure_and_the_callback_https(api: App) -> None:
    with api.browser() as browser:
        r = browser.get("/api/auth/oidc/login", headers={"X-Forwarded-Proto": "https"})
    assert "secure" in [a.strip().lower() for a in r.headers["set-cookie"].split(";")]
    assert query(r.headers["location"])["redirect_uri"] == "https://testserver/api/auth/oidc/callback"


def test_a_configured_redirect_url_is_used_as_is(make_app: Any) -> None:
    api = make_app(oidc_redirect_url="https://prism.example.com/api/auth/oidc/callback")
    with api.browser() as browser:
        asked = query(start(browser))
    assert asked["redirect_uri"] == "https://prism.example.com/api/auth/oidc/callback"


def test_a_user_without_a_mapped_group_gets_the_default_role(api: App, oidc_provider: OIDCProvider) -> None:
    with api.browser() as browser:
        assert sso(browser, oidc_provider, "bob").status_code == 302
        assert signed_in(browser)["role"] == "viewer"


def test_the_default_role_is_configurable(make_app: Any, oidc_provider: OIDCProvider) -> None:
    api = make_app(oidc_default_role="member")
    with api.browser() as browser:
        assert sso(browser, oidc_provider, "bob").status_code == 302
        assert signed_in(browser)["role"] == "member"


def test_the_same_subject_signs_in_as_the_same_user(api: App, oidc_provider: OIDCProvider) -> None:
    with api.browser() as first, api.browser() as second:
        assert sso(first, oidc_provider, "alice").status_code == 302
        assert sso(second, oidc_provider, "alice").status_code == 302
        one, two = signed_in(first), signed_in(second)
        assert first.cookies[SESSION_COOKIE] != second.cookies[SESSION_COOKIE]
    assert one["id"] == two["id"]
    assert users(api.settings.database_dsn) == [("alice@example.com", "admin", "alice")]


def test_password_login_off_still_allows_single_sign_on(make_app: Any, oidc_provider: OIDCProvider) -> None:
    api = make_app(password_login="off", admin_password="first-admin-password")
    with api.browser() as browser:
        assert browser.get("/api/auth/providers").json() == {"password": False, "oidc": True}
        r = browser.post("/api/auth/login", json={"email": "admin@example.com", "password": "first-admin-password"})
        assert error(r) == (403, "password_login_off")
        assert sso(browser, oidc_provider, "alice").status_code == 302
        assert signed_in(browser)["email"] == "alice@example.com"


# --- what is refused ----------------------------------------------------------------------------


def test_a_tampered_state_is_refused(api: App, oidc_provider: OIDCProvider) -> None:
    with api.browser() as browser:
        back = at_provider(oidc_provider, start(browser))
        r = browser.get(with_query(back, state="attacker-chosen-state"))
        assert error(r) == (400, "oidc_state_mismatch")
        assert SESSION_COOKIE not in browser.cookies and LOGIN_COOKIE not in browser.cookies
    # A browser is sent back to the login page with the code instead of JSON.
    with api.browser() as browser:
        back = at_provider(oidc_provider, start(browser))
        r = browser.get(with_query(back, state="attacker-chosen-state"), headers={"Accept": "text/html"})
        assert r.status_code == 302 and r.headers["location"] == "/login/?error=oidc_state_mismatch"
        assert SESSION_COOKIE not in browser.cookies
    assert users(api.settings.database_dsn) == []


def test_a_callback_without_this_browsers_login_cookie_is_refused(api: App, oidc_provider: OIDCProvider) -> None:
    with api.browser() as victim:
        back = at_provider(oidc_provider, start(victim))
    with api.browser() as other:  # login CSRF: the attacker's callback URL in another browser
        assert error(other.get(back)) == (400, "oidc_state_mismatch")
    with api.browser() as forger:  # a cookie sealed with another key
        forged = Fernet(Fernet.generate_key()).encrypt(b'{"state": "x"}').decode()
        set_login_cookie(forger, forged)
        assert error(forger.get(back)) == (400, "oidc_state_mismatch")
    assert users(api.settings.database_dsn) == []


def test_the_login_cookie_expires_after_ten_minutes(api: App, oidc_provider: OIDCProvider) -> None:
    with api.browser() as browser:
        back = at_provider(oidc_provider, start(browser))
        api.clock.advance(minutes=10, seconds=1)
        assert error(browser.get(back)) == (400, "oidc_state_mismatch")


def test_a_replayed_code_is_refused(api: App, oidc_provider: OIDCProvider) -> None:
    with api.browser() as browser:
        back = at_provider(oidc_provider, start(browser))
        sealed = browser.cookies[LOGIN_COOKIE]
        assert browser.get(back).status_code == 302
    with api.browser() as attacker:  # the callback URL and the login cookie, captured and sent again
        set_login_cookie(attacker, sealed)
        r = attacker.get(back)
        assert error(r) == (401, "oidc_code_rejected")
        assert "invalid_grant" in r.json()["error"]["message"]
        assert SESSION_COOKIE not in attacker.cookies


def test_an_id_token_with_another_nonce_is_refused(api: App, oidc_provider: OIDCProvider) -> None:
    with api.browser() as browser:
        back = at_provider(oidc_provider, start(browser))
        pending = api.oidc.unseal(browser.cookies[LOGIN_COOKIE])
        # The same state and verifier (the code exchange succeeds), but not the nonce the token carries.
        other = PendingLogin(pending.state, "another-nonce", pending.code_verifier, pending.redirect_uri)
        set_login_cookie(browser, api.oidc.seal(other))
        r = browser.get(back)
        assert error(r) == (401, "oidc_token_invalid")
        assert "nonce" in r.json()["error"]["message"]
        assert SESSION_COOKIE not in browser.cookies


def test_a_wrong_code_verifier_is_refused_by_the_provider(api: App, oidc_provider: OIDCProvider) -> None:
    with api.browser() as browser:
        back = at_provider(oidc_provider, start(browser))
        pending = api.oidc.unseal(browser.cookies[LOGIN_COOKIE])
        other = PendingLogin(pending.state, pending.nonce, "a" * 64, pending.redirect_uri)
        set_login_cookie(browser, api.oidc.seal(other))
        assert error(browser.get(back)) == (401, "oidc_code_rejected")


def test_the_provider_insists_on_pkce(oidc_provider: OIDCProvider) -> None:
    """The test provider is no pushover: an authorization request without a code challenge fails."""
    params = {"response_type": "code", "client_id": "prism", "redirect_uri": CALLBACK, "scope": "openid"}
    r = httpx.get(f"{oidc_provider.issuer}/auth?{urlencode({**params, 'state': 's', 'nonce': 'n'})}")
    assert r.status_code in (302, 303)
    assert query(r.headers["location"])["error"] == "invalid_request"
    assert "PKCE" in query(r.headers["location"])["error_description"]


def test_the_provider_declining_is_refused(api: App, oidc_provider: OIDCProvider) -> None:
    with api.browser() as browser:
        with httpx.Client(timeout=10) as provider_browser:
            back = oidc_provider.refuse(provider_browser, start(browser))
        assert query(back)["error"] == "access_denied"
        r = browser.get(back)
        assert error(r) == (401, "oidc_provider_error")
        assert "access_denied" in r.json()["error"]["message"]
        assert SESSION_COOKIE not in browser.cookies


def test_an_unverified_email_is_refused(api: App, oidc_provider: OIDCProvider) -> None:
    with api.browser() as browser:
        assert error(sso(browser, oidc_provider, "carol")) == (403, "oidc_email_unverified")
    assert users(api.settings.database_dsn) == []


def test_an_email_of_another_account_is_not_taken_over(make_app: Any, oidc_provider: OIDCProvider) -> None:
    api = make_app(admin_email="alice@example.com", admin_password="first-admin-password")
    with api.browser() as browser:  # entering runs the lifespan: the first admin, alice, by password
        assert error(sso(browser, oidc_provider, "alice")) == (409, "email_taken")
    assert users(api.settings.database_dsn) == [("alice@example.com", "admin", None)]


def test_single_sign_on_off_answers_404(make_app: Any) -> None:
    api = make_app(oidc_issuer="")
    with api.browser() as browser:
        assert error(browser.get("/api/auth/oidc/login")) == (404, "oidc_disabled")
        assert error(browser.get("/api/auth/oidc/callback?code=x&state=y")) == (404, "oidc_disabled")
        r = browser.get("/api/auth/oidc/login", headers={"Accept": "text/html"})
        assert r.status_code == 302 and r.headers["location"] == "/login/?error=oidc_disabled"
        assert browser.get("/api/auth/providers").json()["oidc"] is False


def test_an_unreachable_provider_answers_503(make_app: Any) -> None:
    api = make_app(oidc_issuer=f"http://127.0.0.1:{free_port()}")
    with api.browser() as browser:
        r = browser.get("/api/auth/oidc/login")
        assert error(r) == (503, "oidc_provider_unavailable")
        assert r.headers["retry-after"] == "1"


# --- the ID token's checks, on tokens the provider really issued -------------------------------


def client_for(issuer: str, client_id: str, secret: str, clock: WallClock | None = None) -> OIDCClient:
    config = OIDCConfig(issuer=issuer, client_id=client_id, client_secret=secret, scopes="openid email")
    return OIDCClient(config, clock=clock or WallClock())


async def id_token(client: OIDCClient, idp: OIDCProvider, redirect_uri: str) -> tuple[str, str]:
    """A code flow of ``client`` at ``idp`` (the user signs in): its raw ID token and nonce."""
    url, pending = await client.begin(redirect_uri)
    with httpx.Client(timeout=10) as provider_browser:
        back = idp.sign_in(provider_browser, url)
    token = await client.exchange(pending, query(back))
    return token["id_token"], pending.nonce


async def test_an_id_token_for_another_client_is_refused(oidc_provider: OIDCProvider) -> None:
    other = client_for(oidc_provider.issuer, OTHER_CLIENT.client_id, OTHER_CLIENT.client_secret)
    token, nonce = await id_token(other, oidc_provider, OTHER_CLIENT.redirect_uris[0])
    assert (await other.verify_id_token(token, nonce=nonce))["aud"] == "other-app"  # a valid token...
    prism = client_for(oidc_provider.issuer, PRISM_CLIENT.client_id, PRISM_CLIENT.client_secret)
    with pytest.raises(OIDCTokenInvalidError, match="aud"):  # ...but not for Prism
        await prism.verify_id_token(token, nonce=nonce)


async def test_an_id_token_from_another_issuer_is_refused(
    oidc_provider: OIDCProvider, impostor_provider: OIDCProvider
) -> None:
    impostor = client_for(impostor_provider.issuer, PRISM_CLIENT.client_id, PRISM_CLIENT.client_secret)
    token, nonce = await id_token(impostor, impostor_provider, CALLBACK)
    assert (await impostor.verify_id_token(token, nonce=nonce))["iss"] == impostor_provider.issuer
    prism = client_for(oidc_provider.issuer, PRISM_CLIENT.client_id, PRISM_CLIENT.client_secret)
    # Same keys, so the signature verifies under Prism's provider's JWKS: the issuer is what is refused.
    with pytest.raises(OIDCTokenInvalidError, match="iss"):
        await prism.verify_id_token(token, nonce=nonce)


async def test_an_expired_or_tampered_id_token_is_refused(oidc_provider: OIDCProvider) -> None:
    clock = WallClock()
    prism = client_for(oidc_provider.issuer, PRISM_CLIENT.client_id, PRISM_CLIENT.client_secret, clock)
    token, nonce = await id_token(prism, oidc_provider, CALLBACK)
    assert (await prism.verify_id_token(token, nonce=nonce))["sub"] == "alice"
    header, payload, signature = token.split(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    with pytest.raises(OIDCTokenInvalidError):
        await prism.verify_id_token(f"{header}.{payload}.{flipped}", nonce=nonce)
    with pytest.raises(OIDCTokenInvalidError):  # signed with no key at all
        await prism.verify_id_token(f"{header}.{payload}.", nonce=nonce)
    clock.advance(minutes=12)  # the provider's ID tokens live 10 minutes; a minute of leeway
    with pytest.raises(OIDCTokenInvalidError, match="exp"):
        await prism.verify_id_token(token, nonce=nonce)
