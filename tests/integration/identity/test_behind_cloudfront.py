"""The identity app behind CloudFront, on the real PostgreSQL: every request arrives from the edge's
address, the viewer's is in ``CloudFront-Viewer-Address`` (``ip:port``; PRISM_VIEWER_ADDRESS_HEADER
names it), and CloudFront's SigV4 signature replaces ``Authorization``, so a read token travels in
``X-Prism-Token``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.integration.identity.test_identity_api import ADMIN, ADMIN_PW, App, error, member_client, sign_in

EDGE = ("130.176.0.1", 443)  # CloudFront's edge: the connection every viewer's request comes over
VIEWER_HEADER = "CloudFront-Viewer-Address"
SIGV4 = {
    "Authorization": "AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/20260101/eu-west-1/lambda/aws4_request, "
    "SignedHeaders=host;x-amz-date, Signature=0123abcd"
}


def wrong_login(client: TestClient, n: int, viewer: str | None) -> Any:
    """A failed sign-in from ``viewer`` (None: no header), each of its own account (so only the
    per-address counter adds up)."""
    headers = {VIEWER_HEADER: viewer} if viewer is not None else {}
    body = {"email": f"nobody-{n}@example.com", "password": "wrong-password-here"}
    return client.post("/api/auth/login", json=body, headers=headers)


def audit_addresses(url: str, action: str) -> list[str | None]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT address FROM audit_log WHERE action = %s ORDER BY id", (action,))
        return [r[0] for r in rows]


# --- the viewer's address ---------------------------------------------------------------------------


def test_two_viewers_behind_one_edge_are_throttled_separately(make_app: Any, identity_db: str) -> None:
    # GIVEN the identity app behind CloudFront, 2 failed sign-ins a minute per address
    api = make_app(rate_limit_login_failures="2/minute", viewer_address_header=VIEWER_HEADER)
    with api.client(client=EDGE) as edge:
        # WHEN one viewer fails twice
        for n in range(2):
            assert error(wrong_login(edge, n, "198.51.100.1:50001")) == (401, "invalid_credentials")
        # THEN it is throttled, from another source port too
        r = wrong_login(edge, 2, "198.51.100.1:50002")
        assert error(r) == (429, "rate_limited") and int(r.headers["retry-after"]) >= 1
        # AND another viewer behind the same edge is not, and signs in
        assert error(wrong_login(edge, 3, "198.51.100.2:50001")) == (401, "invalid_credentials")
        ok = edge.post(
            "/api/auth/login", json={"email": ADMIN, "password": ADMIN_PW}, headers={VIEWER_HEADER: "198.51.100.3:1"}
        )
        assert ok.status_code == 200, ok.text
        # AND an IPv6 viewer is one address however CloudFront spells it, its port stripped
        for n, spelt in enumerate(("2001:db8::7:443", "2001:0db8:0:0::7:8443")):
            assert error(wrong_login(edge, 10 + n, spelt)) == (401, "invalid_credentials")
        assert error(wrong_login(edge, 12, "2001:db8::7:9")) == (429, "rate_limited")
        assert error(wrong_login(edge, 13, "2001:db8::8:443")) == (401, "invalid_credentials")
    # AND the audit log names the viewers, not the edge
    failed = audit_addresses(identity_db, "login.failed")
    assert failed[:3] == ["198.51.100.1", "198.51.100.1", "198.51.100.2"]
    assert "2001:db8::7" in failed and EDGE[0] not in failed
    assert audit_addresses(identity_db, "login") == ["198.51.100.3"]


def test_a_malformed_viewer_address_falls_back_to_the_edge(make_app: Any, identity_db: str) -> None:
    api = make_app(rate_limit_login_failures="2/minute", viewer_address_header=VIEWER_HEADER)
    with api.client(client=EDGE) as edge:
        # WHEN requests carry no usable viewer address (never a 500)
        for n, malformed in enumerate(("garbage", "198.51.100.9")):  # the second: no port
            assert error(wrong_login(edge, n, malformed)) == (401, "invalid_credentials")
        # THEN they count as the edge's: the edge is throttled, with or without a header
        assert error(wrong_login(edge, 2, "1.2.3.4:99999")) == (429, "rate_limited")
        assert error(wrong_login(edge, 3, None)) == (429, "rate_limited")
        # AND a viewer with a well-formed address is still let through
        assert error(wrong_login(edge, 4, "198.51.100.10:443")) == (401, "invalid_credentials")
    assert audit_addresses(identity_db, "login.failed") == [EDGE[0], EDGE[0], "198.51.100.10"]


def test_without_the_setting_the_header_is_not_believed(make_app: Any) -> None:
    # A caller reaching the app directly could pick a new "viewer" address for every guess.
    api = make_app(rate_limit_login_failures="2/minute")
    with api.client(client=EDGE) as client:
        for n in range(2):
            assert error(wrong_login(client, n, f"198.51.100.{n}:1")) == (401, "invalid_credentials")
        assert error(wrong_login(client, 2, "198.51.100.99:1")) == (429, "rate_limited")


# --- read tokens in X-Prism-Token --------------------------------------------------------------------


@pytest.fixture
def tokens(make_app: Any) -> Iterator[tuple[App, dict[str, str]]]:
    api = make_app(rate_limit_auth_failures="5/minute", viewer_address_header=VIEWER_HEADER)
    with api.client() as admin:
        sign_in(admin)
        member_client(api, admin, "m@example.com").close()  # signed in, temporary password changed
        member = next(u for u in admin.get("/api/users").json() if u["email"] == "m@example.com")
        read = admin.post("/api/keys", json={"kind": "read", "name": "nb", "user_id": member["id"]})
        other = admin.post("/api/keys", json={"kind": "read", "name": "mine"})
        ingest = admin.post("/api/keys", json={"kind": "ingest", "name": "app", "project": "default"})
        assert {read.status_code, other.status_code, ingest.status_code} == {201}, (read.text, other.text)
        yield api, {"read": read.json()["token"], "other": other.json()["token"], "ingest": ingest.json()["token"]}


def test_a_read_token_in_x_prism_token_reads_as_its_user(tokens: tuple[App, dict[str, str]]) -> None:
    api, t = tokens
    with api.client(client=EDGE) as script:
        token = {"X-Prism-Token": t["read"]}
        # Behind CloudFront: Authorization is the edge's signature, the token in its own header.
        me = script.get("/api/auth/session", headers={**SIGV4, **token})
        assert me.status_code == 200, me.text
        assert me.json()["user"]["email"] == "m@example.com" and me.json()["csrf_token"] is None
        assert script.get("/api/projects", headers={**SIGV4, **token}).status_code == 200
        # Where Authorization arrives, Bearer still does; the same token in both headers is one token.
        assert script.get("/api/projects", headers={"Authorization": f"Bearer {t['read']}"}).status_code == 200
        both = {"Authorization": f"Bearer {t['read']}", **token}
        assert script.get("/api/auth/session", headers=both).json()["user"]["email"] == "m@example.com"
        # An Authorization of another scheme beside X-Prism-Token is a proxy's: ignored.
        assert script.get("/api/projects", headers={"Authorization": "Basic cHJveHk6cHc=", **token}).status_code == 200
        # Without the token, CloudFront's signature is nobody.
        r = script.get("/api/projects", headers=SIGV4)
        assert error(r) == (401, "unauthenticated") and "X-Prism-Token" in r.json()["error"]["message"]


def test_x_prism_token_follows_the_read_token_rules(tokens: tuple[App, dict[str, str]]) -> None:
    api, t = tokens
    with api.client(client=EDGE) as script:
        token = {**SIGV4, "X-Prism-Token": t["read"]}
        # Reads only: a state change is refused even with a valid token.
        r = script.post("/api/auth/logout", json={}, headers=token)
        assert error(r) == (403, "forbidden") and "only reads" in r.json()["error"]["message"]
        assert error(script.get("/api/users", headers=token)) == (403, "forbidden")  # a member's token
        # An ingestion key is no read token.
        r = script.get("/api/projects", headers={"X-Prism-Token": t["ingest"]})
        assert error(r) == (403, "forbidden") and "ingestion key" in r.json()["error"]["message"]
        # Two different tokens: which one is meant? Neither.
        r = script.get("/api/projects", headers={"Authorization": f"Bearer {t['other']}", "X-Prism-Token": t["read"]})
        assert error(r) == (400, "conflicting_tokens")
        assert t["read"] not in r.text and t["other"] not in r.text
        # An empty header, an unknown token: 401 with the error shape.
        r = script.get("/api/projects", headers={"X-Prism-Token": " "})
        assert error(r) == (401, "unauthenticated") and "X-Prism-Token" in r.json()["error"]["message"]
        assert error(script.get("/api/projects", headers={"X-Prism-Token": "prism_rt_guess"})) == (
            401,
            "unauthenticated",
        )


def test_wrong_tokens_in_x_prism_token_are_throttled_per_viewer(tokens: tuple[App, dict[str, str]]) -> None:
    api, t = tokens
    with api.client(client=EDGE) as edge:
        guessing = {"X-Prism-Token": "prism_rt_guessing", VIEWER_HEADER: "198.51.100.1:1"}
        for _ in range(5):
            assert error(edge.get("/api/projects", headers=guessing)) == (401, "unauthenticated")
        assert error(edge.get("/api/projects", headers=guessing)) == (429, "rate_limited")
        honest = {"X-Prism-Token": t["read"], VIEWER_HEADER: "198.51.100.2:1"}
        assert edge.get("/api/projects", headers=honest).status_code == 200
