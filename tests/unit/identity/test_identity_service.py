"""prism.identity.service on the in-memory store with a TestClock: sign-in, sessions (idle and
absolute expiry, rotation, revocation), passwords, invites, keys, roles, projects and the audit log."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import anyio
import pytest
from argon2 import PasswordHasher
from prism.adapters.memory import MemoryIdentityStore
from prism.errors import ConflictError, ForbiddenError, PrismError, RateLimitedError, ValidationFailedError
from prism.identity.errors import (
    EmailTakenError,
    ForbiddenRoleError,
    InvalidCredentialsError,
    LastAdminError,
    ProjectNotFoundError,
    UnauthenticatedError,
)
from prism.identity.model import Principal, Role, User
from prism.identity.passwords import Passwords
from prism.identity.service import IdentityPolicy, IdentityService, SignIn
from prism.ratelimit import RateLimiter

from tests.support.clock import TestClock

T = TypeVar("T")
ADMIN, ADMIN_PW = "admin@example.com", "admin-password-1"
ADDR = "192.0.2.1"
MEMBER_PW = "member-password-1"


def run(fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
    async def call() -> T:
        return await fn(*args, **kwargs)

    return anyio.run(call)


class CountingPasswords(Passwords):
    def __init__(self) -> None:
        super().__init__(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
        self.verified = 0

    def verify(self, stored: str | None, password: str) -> bool:
        self.verified += 1
        return super().verify(stored, password)


@pytest.fixture
def clock() -> TestClock:
    return TestClock(datetime(2026, 3, 1, 12, tzinfo=UTC))


@pytest.fixture
def store() -> MemoryIdentityStore:
    return MemoryIdentityStore()


@pytest.fixture
def passwords() -> CountingPasswords:
    return CountingPasswords()


def make_service(store: MemoryIdentityStore, clock: TestClock, passwords: Passwords, **limits: str) -> IdentityService:
    limiter = RateLimiter("memory://", limits, key_prefix=f"test-{uuid.uuid4().hex}") if limits else None
    return IdentityService(store, passwords=passwords, limiter=limiter, clock=clock, policy=IdentityPolicy())


@pytest.fixture
def svc(store: MemoryIdentityStore, clock: TestClock, passwords: CountingPasswords) -> IdentityService:
    service = make_service(store, clock, passwords)
    assert run(service.ensure_admin, ADMIN, ADMIN_PW) is not None
    return service


def sign_in(svc: IdentityService, email: str = ADMIN, password: str = ADMIN_PW, **kw: Any) -> SignIn:
    return run(svc.login, email, password, address=ADDR, **kw)


def me(svc: IdentityService, signin: SignIn) -> Principal:
    return run(svc.authenticate_session, signin.session_token)


def add_user(svc: IdentityService, admin: Principal, email: str, role: Role, password: str = MEMBER_PW) -> User:
    invitation = run(svc.invite_user, admin, email, role, method="password")
    assert invitation.temporary_password
    first = sign_in(svc, email, invitation.temporary_password)
    run(svc.change_password, me(svc, first), invitation.temporary_password, password)
    return invitation.user


def actions(store: MemoryIdentityStore) -> list[str]:
    return [e.action for e in store.audit]


# --- the first admin, sign-in -------------------------------------------------------------------


def test_the_first_admin_is_created_once(svc: IdentityService, store: MemoryIdentityStore) -> None:
    assert run(svc.ensure_admin, "other@example.com", "another-password") is None
    assert [(u.email, u.role, u.must_change_password) for u in store.users.values()] == [(ADMIN, Role.admin, False)]
    assert "user.bootstrap" in actions(store)


def test_login_starts_a_session_with_its_csrf_token(svc: IdentityService, store: MemoryIdentityStore) -> None:
    signin = sign_in(svc, ADMIN.upper())  # e-mails are case-insensitive
    principal = me(svc, signin)
    assert principal.kind == "session" and principal.role is Role.admin and principal.user_id == signin.user.id
    assert principal.csrf_ok(signin.csrf_token) and not principal.csrf_ok("forged") and not principal.csrf_ok(None)
    assert svc.csrf_token(signin.session_token) == signin.csrf_token
    # Only digests are kept.
    assert all(signin.session_token.encode() not in h and len(h) == 32 for h in store.sessions)
    assert store.users[signin.user.id].last_login_at is not None
    assert actions(store)[-1] == "login"


def test_unknown_email_and_wrong_password_look_the_same_and_cost_the_same(
    svc: IdentityService, store: MemoryIdentityStore, passwords: CountingPasswords
) -> None:
    errors = []
    for email, password in ((ADMIN, "wrong-password!"), ("nobody@example.com", ADMIN_PW)):
        before = passwords.verified
        with pytest.raises(InvalidCredentialsError) as exc:
            sign_in(svc, email, password)
        assert passwords.verified == before + 1  # a dummy hash is verified for the unknown account
        errors.append((exc.value.status, exc.value.code, exc.value.message))
    assert errors[0] == errors[1] == (401, "invalid_credentials", "wrong e-mail or password")
    assert actions(store)[-2:] == ["login.failed", "login.failed"]
    assert not any(ADMIN_PW in repr(e) or "wrong-password!" in repr(e) for e in store.audit)


def test_a_disabled_account_gets_the_same_answer(svc: IdentityService) -> None:
    admin = me(svc, sign_in(svc))
    user = add_user(svc, admin, "m@example.com", Role.member)
    run(svc.update_user, admin, user.id, disabled=True)
    with pytest.raises(InvalidCredentialsError, match="wrong e-mail or password"):
        sign_in(svc, "m@example.com", "member-password-1")


def test_failed_sign_ins_are_throttled_per_account_from_any_address(
    store: MemoryIdentityStore, clock: TestClock, passwords: CountingPasswords
) -> None:
    svc = make_service(store, clock, passwords, login_failures="3/minute")
    run(svc.ensure_admin, ADMIN, ADMIN_PW)
    for i in range(3):
        with pytest.raises(InvalidCredentialsError):
            run(svc.login, ADMIN, "wrong-password!", address=f"198.51.100.{i}")
    with pytest.raises(RateLimitedError) as exc:
        run(svc.login, ADMIN, ADMIN_PW, address="203.0.113.9")  # even the right password waits
    assert exc.value.status == 429 and exc.value.retry_after >= 1


def test_failed_sign_ins_are_throttled_per_address_across_accounts(
    store: MemoryIdentityStore, clock: TestClock, passwords: CountingPasswords
) -> None:
    svc = make_service(store, clock, passwords, login_failures="3/minute")
    run(svc.ensure_admin, ADMIN, ADMIN_PW)
    for i in range(3):
        with pytest.raises(InvalidCredentialsError):
            run(svc.login, f"user{i}@example.com", "wrong-password!", address=ADDR)
    with pytest.raises(RateLimitedError):
        run(svc.login, ADMIN, ADMIN_PW, address=ADDR)
    assert run(svc.login, ADMIN, ADMIN_PW, address="203.0.113.9").user.email == ADMIN  # another address


def test_password_login_can_be_turned_off(store: MemoryIdentityStore, clock: TestClock, passwords: Passwords) -> None:
    svc = IdentityService(store, passwords=passwords, clock=clock, policy=IdentityPolicy(password_login=False))
    run(svc.ensure_admin, ADMIN, ADMIN_PW)
    with pytest.raises(ForbiddenError) as exc:
        sign_in(svc)
    assert exc.value.code == "password_login_off"


def test_an_outdated_hash_is_upgraded_at_login(svc: IdentityService, store: MemoryIdentityStore) -> None:
    weak = Passwords(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, salt_len=8)).hash(ADMIN_PW)
    admin = next(iter(store.users.values()))
    store.users[admin.id] = User(**{**vars(admin), "password_hash": weak})
    sign_in(svc)
    assert store.users[admin.id].password_hash != weak
    assert svc.passwords.verify(store.users[admin.id].password_hash, ADMIN_PW)


# --- sessions -----------------------------------------------------------------------------------


def test_a_session_ends_after_the_idle_timeout(svc: IdentityService, clock: TestClock) -> None:
    signin = sign_in(svc)
    clock.advance(hours=23, minutes=59)
    me(svc, signin)  # activity moves the idle deadline
    clock.advance(hours=23, minutes=59)
    me(svc, signin)
    clock.advance(hours=24)
    with pytest.raises(UnauthenticatedError) as exc:
        me(svc, signin)
    assert exc.value.status == 401 and exc.value.code == "unauthenticated"
    with pytest.raises(UnauthenticatedError):  # and it is gone, not merely refused
        me(svc, signin)


def test_a_session_ends_at_its_absolute_expiry_however_active(svc: IdentityService, clock: TestClock) -> None:
    signin = sign_in(svc)
    for _ in range(13):  # 13 x 12 h = 156 h < 168 h
        clock.advance(hours=12)
        me(svc, signin)
    clock.advance(hours=12)
    with pytest.raises(UnauthenticatedError):
        me(svc, signin)


def test_last_seen_is_written_at_most_once_a_minute(
    svc: IdentityService, clock: TestClock, store: MemoryIdentityStore
) -> None:
    signin = sign_in(svc)
    (session,) = store.sessions.values()
    clock.advance(seconds=30)
    me(svc, signin)
    assert store.sessions[session.id_hash].last_seen_at == session.last_seen_at
    clock.advance(seconds=31)
    me(svc, signin)
    assert store.sessions[session.id_hash].last_seen_at == clock.now


def test_login_ends_the_session_the_browser_presented(svc: IdentityService, store: MemoryIdentityStore) -> None:
    first = sign_in(svc)
    second = sign_in(svc, replaces=first.session_token)
    assert second.session_token != first.session_token
    with pytest.raises(UnauthenticatedError):
        me(svc, first)
    assert me(svc, second).user_id == second.user.id
    sign_in(svc, replaces="a-session-id-planted-by-someone-else")  # unknown: nothing to end, no error
    assert len(store.sessions) == 2


def test_logout_and_logout_everywhere(svc: IdentityService, store: MemoryIdentityStore) -> None:
    a, b, c = sign_in(svc), sign_in(svc), sign_in(svc)
    run(svc.logout, me(svc, a))
    with pytest.raises(UnauthenticatedError):
        me(svc, a)
    me(svc, b)
    assert run(svc.logout_everywhere, me(svc, c)) == 2
    for s in (b, c):
        with pytest.raises(UnauthenticatedError):
            me(svc, s)
    assert {"logout", "logout.everywhere"} <= set(actions(store))


def test_disabling_a_user_ends_their_sessions(svc: IdentityService) -> None:
    admin = me(svc, sign_in(svc))
    user = add_user(svc, admin, "m@example.com", Role.member)
    session = sign_in(svc, "m@example.com", "member-password-1")
    run(svc.update_user, admin, user.id, disabled=True)
    with pytest.raises(UnauthenticatedError):
        me(svc, session)
    run(svc.update_user, admin, user.id, disabled=False)
    with pytest.raises(UnauthenticatedError):  # enabling again does not bring them back
        me(svc, session)


def test_changing_the_password_ends_the_other_sessions(svc: IdentityService, store: MemoryIdentityStore) -> None:
    here, there = sign_in(svc), sign_in(svc)
    with pytest.raises(InvalidCredentialsError):
        run(svc.change_password, me(svc, here), "not-the-password", "new-password-123")
    with pytest.raises(ValidationFailedError):
        run(svc.change_password, me(svc, here), ADMIN_PW, "short")
    run(svc.change_password, me(svc, here), ADMIN_PW, "new-password-123")
    me(svc, here)
    with pytest.raises(UnauthenticatedError):
        me(svc, there)
    with pytest.raises(InvalidCredentialsError):
        sign_in(svc)
    sign_in(svc, password="new-password-123")
    assert not any("new-password-123" in repr(e) for e in store.audit)


# --- invites ------------------------------------------------------------------------------------


def test_a_temporary_password_must_be_changed(svc: IdentityService) -> None:
    admin = me(svc, sign_in(svc))
    invitation = run(svc.invite_user, admin, "v@example.com", "viewer", method="password")
    assert invitation.invite_token is None and invitation.temporary_password
    first = sign_in(svc, "v@example.com", invitation.temporary_password)
    assert first.user.must_change_password
    changed = run(svc.change_password, me(svc, first), invitation.temporary_password, "viewer-password-1")
    assert not changed.must_change_password


def test_an_invite_link_works_once_and_expires(svc: IdentityService, clock: TestClock) -> None:
    admin = me(svc, sign_in(svc))
    invitation = run(svc.invite_user, admin, "new@example.com", Role.member)
    assert invitation.temporary_password is None and invitation.invite_token
    with pytest.raises(InvalidCredentialsError):  # no password until the invite is used
        sign_in(svc, "new@example.com", "")
    signin = run(svc.accept_invite, invitation.invite_token, "chosen-password-1", address=ADDR)
    assert signin.user.email == "new@example.com" and me(svc, signin).role is Role.member
    with pytest.raises(UnauthenticatedError) as exc:
        run(svc.accept_invite, invitation.invite_token, "another-password-1", address=ADDR)
    assert exc.value.code == "invalid_invite"
    late = run(svc.invite_user, admin, "late@example.com", Role.viewer)
    clock.advance(days=7, seconds=1)
    with pytest.raises(UnauthenticatedError):
        run(svc.accept_invite, late.invite_token, "chosen-password-1", address=ADDR)


def test_an_email_is_invited_once(svc: IdentityService) -> None:
    admin = me(svc, sign_in(svc))
    with pytest.raises(EmailTakenError):
        run(svc.invite_user, admin, ADMIN.upper(), Role.member)
    with pytest.raises(ValidationFailedError):
        run(svc.invite_user, admin, "not an address", Role.member)


# --- roles --------------------------------------------------------------------------------------


def test_role_order() -> None:
    assert Role.admin.allows(Role.member) and Role.member.allows(Role.viewer) and Role.viewer.allows(Role.viewer)
    assert not Role.viewer.allows(Role.member) and not Role.member.allows(Role.admin)


def test_only_admins_manage_users_keys_and_projects(svc: IdentityService) -> None:
    admin = me(svc, sign_in(svc))
    add_user(svc, admin, "m@example.com", Role.member)
    member = me(svc, sign_in(svc, "m@example.com", "member-password-1"))
    calls: list[Callable[[], Awaitable[Any]]] = [
        lambda: svc.list_users(member),
        lambda: svc.invite_user(member, "x@example.com", Role.admin),
        lambda: svc.update_user(member, member.user_id or uuid.uuid4(), role=Role.admin),
        lambda: svc.list_keys(member),
        lambda: svc.create_key(member, "read", "mine"),
        lambda: svc.create_project(member, "p", "P"),
        lambda: svc.set_chat_project(member, "default"),
        lambda: svc.audit_page(member),
    ]
    for call in calls:
        with pytest.raises(ForbiddenRoleError) as exc:
            anyio.run(call)
        assert exc.value.status == 403
    assert len(run(svc.list_projects)) == 2  # any signed-in user lists projects


def test_the_last_admin_stays(svc: IdentityService) -> None:
    admin = me(svc, sign_in(svc))
    with pytest.raises(LastAdminError):
        run(svc.update_user, admin, admin.user_id, role=Role.member)
    with pytest.raises(ConflictError):
        run(svc.update_user, admin, admin.user_id, disabled=True)
    with pytest.raises(ConflictError):
        run(svc.delete_user, admin, admin.user_id)
    other = add_user(svc, admin, "a2@example.com", Role.admin)
    run(svc.update_user, admin, admin.user_id, role=Role.member)  # another admin exists now
    other_admin = me(svc, sign_in(svc, "a2@example.com", "member-password-1"))
    with pytest.raises(ForbiddenRoleError):  # the demoted admin's session has its new role at once
        run(svc.list_users, me(svc, sign_in(svc)))
    assert other.id in {u.id for u in run(svc.list_users, other_admin)}


def test_deleting_a_user_ends_their_sessions_and_keys(svc: IdentityService, store: MemoryIdentityStore) -> None:
    admin = me(svc, sign_in(svc))
    user = add_user(svc, admin, "m@example.com", Role.member)
    session = sign_in(svc, "m@example.com", "member-password-1")
    _, token = run(svc.create_key, admin, "read", "notebook", user_id=user.id)
    run(svc.delete_user, admin, user.id)
    with pytest.raises(UnauthenticatedError):
        me(svc, session)
    with pytest.raises(UnauthenticatedError):
        run(svc.authenticate_bearer, token, address=ADDR)


# --- API keys -----------------------------------------------------------------------------------


def test_a_read_token_acts_as_its_user_capped_at_member(svc: IdentityService, store: MemoryIdentityStore) -> None:
    admin = me(svc, sign_in(svc))
    key, token = run(svc.create_key, admin, "read", "notebook")
    assert token.startswith(key.prefix + "_") and key.prefix.startswith("prism_rt_") and len(key.prefix) == 21
    assert token not in repr(store.keys) and token not in repr(store.audit)
    principal = run(svc.authenticate_bearer, token, address=ADDR)
    assert principal.kind == "read_token" and principal.user_id == admin.user_id and principal.role is Role.member
    viewer = add_user(svc, admin, "v@example.com", Role.viewer)
    _, viewer_token = run(svc.create_key, admin, "read", "viewer's", user_id=viewer.id)
    assert run(svc.authenticate_bearer, viewer_token, address=ADDR).role is Role.viewer


def test_an_ingestion_key_is_recognised_as_one(svc: IdentityService) -> None:
    admin = me(svc, sign_in(svc))
    key, token = run(svc.create_key, admin, "ingest", "prod app", project="default")
    assert key.prefix.startswith("prism_ik_") and key.project_slug == "default" and key.user_id is None
    principal = run(svc.authenticate_bearer, token, address=ADDR)
    assert principal.kind == "ingest_key" and principal.user is None and principal.project == "default"
    with pytest.raises(ProjectNotFoundError):
        run(svc.create_key, admin, "ingest", "nowhere", project="nope")


def test_revoked_expired_and_forged_keys_are_refused(
    svc: IdentityService, clock: TestClock, store: MemoryIdentityStore
) -> None:
    admin = me(svc, sign_in(svc))
    revoked, revoked_token = run(svc.create_key, admin, "read", "old")
    _, expiring = run(svc.create_key, admin, "read", "temp", expires_at=clock.now + timedelta(days=1))
    run(svc.revoke_key, admin, revoked.id)
    with pytest.raises(PrismError):  # revoked once only
        run(svc.revoke_key, admin, revoked.id)
    run(svc.authenticate_bearer, expiring, address=ADDR)
    clock.advance(days=1)
    forged = revoked_token[:-4] + ("AAAA" if not revoked_token.endswith("AAAA") else "BBBB")
    for token in (revoked_token, expiring, forged, "prism_rt_short", "", "Bearer x"):
        with pytest.raises(UnauthenticatedError):
            run(svc.authenticate_bearer, token, address=ADDR)
    with pytest.raises(ValidationFailedError):
        run(svc.create_key, admin, "read", "past", expires_at=clock.now - timedelta(seconds=1))
    assert [e.action for e in store.audit if e.action.startswith("key.")] == ["key.create", "key.create", "key.revoke"]


def test_failed_key_authentications_are_throttled_per_address(
    store: MemoryIdentityStore, clock: TestClock, passwords: Passwords
) -> None:
    svc = make_service(store, clock, passwords, auth_failures="2/minute")
    for _ in range(2):
        with pytest.raises(UnauthenticatedError):
            run(svc.authenticate_bearer, "prism_rt_guess", address=ADDR)
    with pytest.raises(RateLimitedError):
        run(svc.authenticate_bearer, "prism_rt_guess", address=ADDR)


def test_a_disabled_users_read_token_stops_working(svc: IdentityService) -> None:
    admin = me(svc, sign_in(svc))
    user = add_user(svc, admin, "m@example.com", Role.member)
    _, token = run(svc.create_key, admin, "read", "theirs", user_id=user.id)
    run(svc.authenticate_bearer, token, address=ADDR)
    run(svc.update_user, admin, user.id, disabled=True)
    with pytest.raises(UnauthenticatedError):
        run(svc.authenticate_bearer, token, address=ADDR)


# --- OIDC ---------------------------------------------------------------------------------------


def test_oidc_sign_in_creates_then_finds_the_user(svc: IdentityService, store: MemoryIdentityStore) -> None:
    first = run(svc.login_oidc, "https://idp.example", "sub-1", "sso@example.com", "S. So", "viewer")
    session_token, csrf, user = first
    assert user.role is Role.viewer and user.password_hash is None and csrf == svc.csrf_token(session_token)
    again = run(svc.login_oidc, "https://idp.example", "sub-1", "renamed@example.com", None, Role.admin)
    assert again.user.id == user.id and again.user.role is Role.viewer  # an existing user keeps their role
    assert "user.create" in actions(store)


def test_oidc_links_an_invited_user_but_never_takes_an_account_over(svc: IdentityService) -> None:
    admin = me(svc, sign_in(svc))
    invited = run(svc.invite_user, admin, "invited@example.com", Role.member)
    linked = run(svc.login_oidc, "https://idp.example", "sub-2", "Invited@example.com", None, Role.viewer)
    assert linked.user.id == invited.user.id and linked.user.role is Role.member
    with pytest.raises(UnauthenticatedError):  # the invite link is spent
        run(svc.accept_invite, invited.invite_token, "chosen-password-1", address=ADDR)
    with pytest.raises(EmailTakenError):  # a password account is not linked to an identity it never had
        run(svc.login_oidc, "https://evil.example", "sub-3", ADMIN, None, Role.viewer)


def test_a_disabled_oidc_user_is_refused(svc: IdentityService) -> None:
    admin = me(svc, sign_in(svc))
    user = run(svc.login_oidc, "https://idp.example", "sub-4", "d@example.com", None, Role.member).user
    run(svc.update_user, admin, user.id, disabled=True)
    with pytest.raises(ForbiddenError):
        run(svc.login_oidc, "https://idp.example", "sub-4", "d@example.com", None, Role.member)


# --- projects and the chat's project ------------------------------------------------------------


def test_projects(svc: IdentityService, store: MemoryIdentityStore) -> None:
    admin = me(svc, sign_in(svc))
    with pytest.raises(ValidationFailedError):
        run(svc.create_project, admin, "Not A Slug", "x")
    run(svc.create_project, admin, "support-bot", "Support bot")
    with pytest.raises(ConflictError):
        run(svc.create_project, admin, "support-bot", "again")
    assert run(svc.rename_project, admin, "support-bot", "Support").name == "Support"
    _, token = run(svc.create_key, admin, "ingest", "bot", project="support-bot")
    assert run(svc.set_chat_project, admin, "support-bot") == "support-bot"
    with pytest.raises(ConflictError):  # the chat's project
        run(svc.delete_project, admin, "support-bot")
    run(svc.set_chat_project, admin, "chat")
    with pytest.raises(ConflictError):
        run(svc.delete_project, admin, "default")
    run(svc.delete_project, admin, "support-bot")
    with pytest.raises(UnauthenticatedError):  # its keys went with it
        run(svc.authenticate_bearer, token, address=ADDR)
    with pytest.raises(ProjectNotFoundError):
        run(svc.set_chat_project, admin, "support-bot")
    assert {"project.create", "project.rename", "project.delete", "config.chat_project"} <= set(actions(store))


# --- the audit log ------------------------------------------------------------------------------


def test_the_audit_log_pages_newest_first(svc: IdentityService) -> None:
    for _ in range(4):
        sign_in(svc)
    admin = me(svc, sign_in(svc))
    first = run(svc.audit_page, admin, limit=3)
    assert [e.action for e in first.items] == ["login"] * 3 and first.next_cursor
    second = run(svc.audit_page, admin, cursor=first.next_cursor, limit=3)
    ids = [e.id for e in first.items + second.items]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids)
    with pytest.raises(ValidationFailedError):
        run(svc.audit_page, admin, cursor="drop table")
    assert [e.action for e in run(svc.audit_page, admin, actions=["user.bootstrap"]).items] == ["user.bootstrap"]


def test_audit_entries_past_their_retention_are_dropped(
    svc: IdentityService, clock: TestClock, store: MemoryIdentityStore
) -> None:
    sign_in(svc)
    kept_from = len(store.audit)
    clock.advance(days=200)
    sign_in(svc)
    clock.advance(days=166)  # the first entries are 366 days old, the next 166
    sign_in(svc)
    assert len(store.audit) == 2 and store.audit[0].at == clock.now - timedelta(days=166)
    assert kept_from >= 2


def test_expired_sessions_are_purged(svc: IdentityService, clock: TestClock, store: MemoryIdentityStore) -> None:
    sign_in(svc)
    clock.advance(hours=169)
    sign_in(svc)  # housekeeping runs with the audit write, at most hourly
    assert len(store.sessions) == 1
