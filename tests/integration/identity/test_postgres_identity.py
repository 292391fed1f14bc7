"""The identity store on the real PostgreSQL (migration 006), alone and under the service with a
TestClock: what the fake promises, the database keeps (case-insensitive unique e-mails, cascades,
one-time invites, digests only)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from uuid import uuid4

import anyio
import psycopg
import pytest
from prism.adapters.postgres_identity import PostgresIdentityStore
from prism.errors import ConflictError, StoreError
from prism.identity.errors import EmailTakenError, UnauthenticatedError
from prism.identity.model import AuditEntry, Role, User
from prism.identity.passwords import Passwords
from prism.identity.service import IdentityService

from tests.support.clock import TestClock

T = TypeVar("T")
NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
ADMIN, ADMIN_PW = "admin@example.com", "admin-password-1"


def run(fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
    async def call() -> T:
        return await fn(*args, **kwargs)

    return anyio.run(call)


@pytest.fixture
def clock() -> TestClock:
    return TestClock(NOW)


@pytest.fixture
def svc(pg_store: PostgresIdentityStore, clock: TestClock, fast_passwords: Passwords) -> IdentityService:
    service = IdentityService(pg_store, passwords=fast_passwords, clock=clock)
    run(service.ensure_admin, ADMIN, ADMIN_PW)
    return service


def user(email: str, role: Role = Role.member) -> User:
    return User(id=uuid4(), email=email, role=role, created_at=NOW)


def test_emails_are_unique_whatever_their_case(pg_store: PostgresIdentityStore) -> None:
    made = pg_store.create_user(user("Ann@Example.com"))
    with pytest.raises(EmailTakenError):
        pg_store.create_user(user("ann@example.COM"))
    found = pg_store.find_user_by_email(" ANN@example.com ")
    assert found is not None and found.id == made.id and found.email == "Ann@Example.com"
    assert pg_store.count_users() == 1


def test_a_users_sessions_keys_and_invites_go_with_them(svc: IdentityService, pg_store: PostgresIdentityStore) -> None:
    admin = run(svc.authenticate_session, run(svc.login, ADMIN, ADMIN_PW, address="a").session_token)
    invitation = run(svc.invite_user, admin, "m@example.com", Role.member, method="password")
    assert invitation.temporary_password
    signin = run(svc.login, "m@example.com", invitation.temporary_password, address="a")
    _, token = run(svc.create_key, admin, "read", "nb", user_id=invitation.user.id)
    run(svc.delete_user, admin, invitation.user.id)
    with pytest.raises(UnauthenticatedError):
        run(svc.authenticate_session, signin.session_token)
    with pytest.raises(UnauthenticatedError):
        run(svc.authenticate_bearer, token, address="a")
    assert [u.email for u in pg_store.list_users()] == [ADMIN]


def test_sessions_expire_idle_and_absolute_on_the_database(svc: IdentityService, clock: TestClock) -> None:
    signin = run(svc.login, ADMIN, ADMIN_PW, address="a")
    clock.advance(hours=23)
    run(svc.authenticate_session, signin.session_token)  # touches last_seen_at
    clock.advance(hours=23)
    run(svc.authenticate_session, signin.session_token)
    clock.advance(hours=24, seconds=1)
    with pytest.raises(UnauthenticatedError):
        run(svc.authenticate_session, signin.session_token)
    other = run(svc.login, ADMIN, ADMIN_PW, address="a")
    for _ in range(13):  # 156 h of activity every 12 h
        clock.advance(hours=12)
        run(svc.authenticate_session, other.session_token)
    clock.advance(hours=12)  # 168 h: the absolute limit
    with pytest.raises(UnauthenticatedError):
        run(svc.authenticate_session, other.session_token)


def test_only_digests_are_stored(svc: IdentityService, identity_db: str) -> None:
    signin = run(svc.login, ADMIN, ADMIN_PW, address="a")
    admin = run(svc.authenticate_session, signin.session_token)
    _, ingest = run(svc.create_key, admin, "ingest", "app", project="default")
    _, read = run(svc.create_key, admin, "read", "nb")
    invitation = run(svc.invite_user, admin, "new@example.com", "viewer")
    secrets = [signin.session_token, signin.csrf_token, ingest, read, invitation.invite_token or "", ADMIN_PW]
    with psycopg.connect(identity_db) as conn:
        dump = "\n".join(
            str(conn.execute(f"SELECT * FROM {table}").fetchall())  # noqa: S608 - our own table names
            for table in ("users", "sessions", "api_keys", "invites", "audit_log", "app_config")
        )
        hashes = conn.execute("SELECT password_hash FROM users WHERE password_hash IS NOT NULL").fetchall()
        prefixes = {r[0] for r in conn.execute("SELECT prefix FROM api_keys")}
    assert all(s and s not in dump for s in secrets)
    assert all(h[0].startswith("$argon2id$") for h in hashes)
    assert prefixes == {ingest[:21], read[:21]}


def test_a_key_is_found_by_prefix_with_its_project_and_user(
    svc: IdentityService, pg_store: PostgresIdentityStore, clock: TestClock
) -> None:
    admin = run(svc.authenticate_session, run(svc.login, ADMIN, ADMIN_PW, address="a").session_token)
    key, token = run(svc.create_key, admin, "ingest", "app", project="chat")
    found = pg_store.key_by_prefix(key.prefix)
    assert found is not None and found[0].project_slug == "chat" and found[1] is None
    clock.advance(minutes=2)
    assert run(svc.authenticate_bearer, token, address="a").project == "chat"
    listed = pg_store.list_keys()
    assert [(k.prefix, k.last_used_at) for k in listed] == [(key.prefix, clock.now)]
    run(svc.revoke_key, admin, key.id)
    assert pg_store.revoke_key(key.id, clock.now) is None  # once
    with pytest.raises(UnauthenticatedError):
        run(svc.authenticate_bearer, token, address="a")


def test_an_invite_is_used_once_even_by_two_at_once(svc: IdentityService, pg_store: PostgresIdentityStore) -> None:
    admin = run(svc.authenticate_session, run(svc.login, ADMIN, ADMIN_PW, address="a").session_token)
    invitation = run(svc.invite_user, admin, "new@example.com", Role.member)
    assert invitation.invite_token
    results: list[str] = []

    async def accept() -> None:
        try:
            await svc.accept_invite(invitation.invite_token or "", "chosen-password-1", address="a")
            results.append("ok")
        except UnauthenticatedError:
            results.append("refused")

    async def both() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(accept)
            tg.start_soon(accept)

    anyio.run(both)
    assert sorted(results) == ["ok", "refused"]


def test_projects_and_the_chat_project(svc: IdentityService, pg_store: PostgresIdentityStore) -> None:
    admin = run(svc.authenticate_session, run(svc.login, ADMIN, ADMIN_PW, address="a").session_token)
    assert [p.slug for p in run(svc.list_projects)] == ["chat", "default"]
    run(svc.create_project, admin, "prod", "Production")
    with pytest.raises(ConflictError):
        run(svc.create_project, admin, "prod", "again")
    key, _ = run(svc.create_key, admin, "ingest", "p", project="prod")
    chat_key, _ = run(svc.create_key, admin, "ingest", "chat", project="chat")  # the chat's own
    other, _ = run(svc.create_key, admin, "ingest", "support", project="chat")
    run(svc.set_chat_project, admin, "prod")
    assert run(svc.chat_project) == "prod" and pg_store.get_config("chat_project") == "prod"

    def project_of(prefix: str) -> str | None:
        found = pg_store.key_by_prefix(prefix)
        assert found is not None
        return next(p.slug for p in run(svc.list_projects) if p.id == found[0].project_id)

    # The chat's key moves with the setting (its next events land in prod); other keys stay.
    assert (project_of(chat_key.prefix), project_of(other.prefix)) == ("prod", "chat")
    run(svc.set_chat_project, admin, "chat")
    assert project_of(chat_key.prefix) == "chat"
    run(svc.delete_project, admin, "prod")
    assert pg_store.key_by_prefix(key.prefix) is None  # cascaded


def test_the_audit_log_pages_filters_and_expires(svc: IdentityService, pg_store: PostgresIdentityStore) -> None:
    for i in range(5):
        pg_store.add_audit(AuditEntry(at=NOW + timedelta(days=i), actor="x", action=f"a{i % 2}", detail={"i": i}))
    rows = pg_store.list_audit(None, 3)
    assert [r.detail.get("i") for r in rows] == [4, 3, 2]
    older = pg_store.list_audit(rows[-1].id, 10)
    assert [r.detail.get("i") for r in older][:2] == [1, 0]
    assert [r.detail["i"] for r in pg_store.list_audit(None, 10, ["a1"])] == [3, 1]
    assert pg_store.purge_audit(NOW + timedelta(days=2)) >= 2
    assert all(r.at >= NOW + timedelta(days=2) for r in pg_store.list_audit(None, 100))


def test_an_unreachable_database_is_a_503(identity_db: str) -> None:
    store = PostgresIdentityStore("postgresql://postgres@127.0.0.1:1/prism", timeout=0.5)
    with pytest.raises(StoreError) as exc:
        store.find_user_by_email("a@example.com")
    assert exc.value.status == 503
    store.close()
