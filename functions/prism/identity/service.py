"""The rules of identity and access, over an :class:`IdentityStore`.

- Sign-in: by password (throttled per account and per address, the same answer for an unknown
  e-mail, a wrong password and a disabled account, after the same work: a dummy hash is verified
  when there is no account), by OIDC (:meth:`IdentityService.login_oidc`, called by the identity
  function's OIDC routes) or by accepting an invite. Each one ends the session the browser presented
  (no session fixation) and starts a new one.
- Sessions: server-side, idle and absolute expiry, looked up on every request (one indexed query;
  ``last_seen_at`` written at most once a minute), ended by logout, logout everywhere, a password
  change (the other sessions), disabling or deleting the user.
- Read tokens (``prism_rt_...``) act as their user, with at most the ``member`` role, and only read;
  ingestion keys (``prism_ik_...``) are recognised so they can be refused (they only write events).
- Every security-relevant action writes an audit entry, never with a secret in it; entries older than
  the retention are deleted as new ones are written (at most once an hour).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple
from uuid import UUID, uuid4

from starlette.concurrency import run_in_threadpool

from prism.clock import Clock, utc_now
from prism.errors import ConflictError, ForbiddenError, ValidationFailedError
from prism.identity import tokens
from prism.identity.errors import (
    EmailTakenError,
    ForbiddenRoleError,
    InvalidCredentialsError,
    KeyNotFoundError,
    LastAdminError,
    ProjectNotFoundError,
    UnauthenticatedError,
    UserNotFoundError,
)
from prism.identity.model import (
    ApiKey,
    AuditEntry,
    Invite,
    KeyKind,
    Principal,
    Project,
    Role,
    Session,
    User,
)
from prism.identity.passwords import Passwords, password_problem
from prism.identity.ports import IdentityStore
from prism.ratelimit import RateLimiter

log = logging.getLogger(__name__)

TOUCH_EVERY = timedelta(minutes=1)
HOUSEKEEPING_EVERY = timedelta(hours=1)
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}$")
CHAT_PROJECT = "chat_project"
DEFAULT_PROJECT = "default"
FAILED_SIGN_INS = "failed sign-ins"


@dataclass(frozen=True)
class IdentityPolicy:
    session_idle: timedelta = timedelta(hours=24)
    session_ttl: timedelta = timedelta(hours=168)
    password_login: bool = True
    audit_retention: timedelta = timedelta(days=365)
    invite_ttl: timedelta = timedelta(days=7)


class SignIn(NamedTuple):
    """A new session: its id (the cookie's value), its CSRF token, and whose it is."""

    session_token: str
    csrf_token: str
    user: User


class Invitation(NamedTuple):
    """A new user and how they sign in the first time: a temporary password or an invite token
    (one of the two; each shown once)."""

    user: User
    temporary_password: str | None
    invite_token: str | None


class AuditPage(NamedTuple):
    items: list[AuditEntry]
    next_cursor: str | None


def normalize_email(email: str) -> str:
    email = email.strip()
    if len(email) > 320 or not EMAIL.match(email):
        raise ValidationFailedError("not an e-mail address", code="invalid_email")
    return email


def _account(email: str) -> str:
    """The throttling key of an account: a digest (counters never hold an address typed)."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:24]


def _role(value: Role | str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise ValidationFailedError(f"unknown role {value!r}: admin, member or viewer", code="invalid_role") from None


class IdentityService:
    def __init__(
        self,
        store: IdentityStore,
        *,
        passwords: Passwords | None = None,
        limiter: RateLimiter | None = None,
        clock: Clock = utc_now,
        policy: IdentityPolicy | None = None,
    ) -> None:
        self.store = store
        self.passwords = passwords or Passwords()
        self.limiter = limiter
        self.clock = clock
        self.policy = policy or IdentityPolicy()
        self._housekept: datetime | None = None

    # --- the first admin ------------------------------------------------------------------------

    async def ensure_admin(self, email: str, password: str) -> User | None:
        """Create the first admin when there is no user at all; None when there was one already."""
        if not email or not password:
            return None
        if await run_in_threadpool(self.store.count_users) > 0:
            return None
        email = normalize_email(email)
        hashed = await run_in_threadpool(self.passwords.hash, password)
        user = User(id=uuid4(), email=email, role=Role.admin, created_at=self.clock(), password_hash=hashed)
        try:
            created = await run_in_threadpool(self.store.create_user, user)
        except EmailTakenError:  # another instance made it first
            return None
        await self.audit(None, "user.bootstrap", target=email, detail={"role": "admin"})
        log.info("created the first admin %s", email)
        return created

    # --- signing in and out ---------------------------------------------------------------------

    async def login(
        self,
        email: str,
        password: str,
        *,
        address: str,
        user_agent: str | None = None,
        replaces: str | None = None,
    ) -> SignIn:
        """Sign in with a password. ``replaces``: the session id the browser presented, ended."""
        if not self.policy.password_login:
            raise ForbiddenError("password sign-in is off: sign in with single sign-on", code="password_login_off")
        account = _account(email)
        await self._check("address", address)
        await self._check("account", account)
        user = await run_in_threadpool(self.store.find_user_by_email, email.strip()) if email.strip() else None
        stored = user.password_hash if user else None
        ok = await run_in_threadpool(self.passwords.verify, stored, password)
        if not ok or user is None or user.disabled:
            await self.audit(
                None,
                "login.failed",
                target=email.strip()[:320],
                detail={"reason": "disabled" if ok and user else "bad_credentials"},
                address=address,
                actor=email.strip()[:320] or "anonymous",
                actor_id=user.id if user else None,
            )
            await self._failed("address", address)
            await self._failed("account", account)
            raise InvalidCredentialsError("wrong e-mail or password")
        changes: dict[str, Any] = {}
        if stored and self.passwords.needs_rehash(stored):
            changes["password_hash"] = await run_in_threadpool(self.passwords.hash, password)
        return await self._start(user, "password", address, user_agent, replaces, changes)

    async def login_oidc(
        self,
        issuer: str,
        subject: str,
        email: str,
        name: str | None,
        role: Role | str,
        *,
        address: str | None = None,
        user_agent: str | None = None,
        replaces: str | None = None,
    ) -> SignIn:
        """Sign in a user whom the OIDC provider ``issuer`` vouched for as ``subject``.

        Found by (issuer, subject); else an invited user of that e-mail who has neither a password nor
        another identity is linked; else a new user with ``role`` (the role of an existing user is
        theirs: an admin changes it). An e-mail already used by another account is refused (409), so
        a provider cannot take over an account it does not own."""
        user = await run_in_threadpool(self.store.find_user_by_oidc, issuer, subject)
        if user is None:
            email = normalize_email(email)
            existing = await run_in_threadpool(self.store.find_user_by_email, email)
            if existing is not None:
                if existing.password_hash is not None or existing.oidc_issuer is not None:
                    await self.audit(None, "login.failed", target=email, detail={"reason": "email_taken",
                                     "issuer": issuer}, address=address, actor=email)  # fmt: skip
                    raise EmailTakenError("an account with this e-mail exists: ask an admin to link it")
                user = await run_in_threadpool(
                    self.store.update_user, existing.id, oidc_issuer=issuer, oidc_subject=subject
                )
                await run_in_threadpool(self.store.delete_user_invites, existing.id)
                assert user is not None
            else:
                new = User(
                    id=uuid4(),
                    email=email,
                    name=name,
                    role=_role(role),
                    created_at=self.clock(),
                    oidc_issuer=issuer,
                    oidc_subject=subject,
                )
                user = await run_in_threadpool(self.store.create_user, new)
                await self.audit(None, "user.create", target=email, detail={"role": user.role.value, "via": "oidc",
                                 "issuer": issuer}, address=address, actor=email, actor_id=user.id)  # fmt: skip
        if user.disabled:
            await self.audit(None, "login.failed", target=user.email, detail={"reason": "disabled", "via": "oidc"},
                             address=address, actor=user.email, actor_id=user.id)  # fmt: skip
            raise ForbiddenError("this account is disabled", code="account_disabled")
        return await self._start(user, "oidc", address, user_agent, replaces, {})

    async def accept_invite(
        self,
        token: str,
        password: str,
        *,
        address: str,
        user_agent: str | None = None,
        replaces: str | None = None,
    ) -> SignIn:
        """Use a one-time invite: set the user's password and sign them in."""
        if problem := password_problem(password):
            raise ValidationFailedError(problem, code="weak_password")
        await self._check("address", address)
        invite = await run_in_threadpool(self.store.use_invite, tokens.digest(token), self.clock())
        user = await run_in_threadpool(self.store.get_user, invite.user_id) if invite else None
        if invite is None or user is None or user.disabled:
            await self._failed("address", address)
            raise UnauthenticatedError("this invite link is invalid, used or expired", code="invalid_invite")
        hashed = await run_in_threadpool(self.passwords.hash, password)
        await self.audit(None, "invite.accept", target=user.email, address=address, actor=user.email,
                         actor_id=user.id)  # fmt: skip
        return await self._start(user, "invite", address, user_agent, replaces,
                                 {"password_hash": hashed, "must_change_password": False})  # fmt: skip

    async def _start(
        self,
        user: User,
        via: str,
        address: str | None,
        user_agent: str | None,
        replaces: str | None,
        changes: dict[str, Any],
    ) -> SignIn:
        now = self.clock()
        if replaces:
            await run_in_threadpool(self.store.delete_session, tokens.digest(replaces))
        token = tokens.new_session_token()
        csrf = tokens.csrf_for(token)
        session = Session(
            id_hash=tokens.digest(token),
            user_id=user.id,
            csrf_hash=tokens.digest(csrf),
            created_at=now,
            last_seen_at=now,
            expires_at=now + self.policy.session_ttl,
            address=address,
            user_agent=(user_agent or "")[:500] or None,
        )
        await run_in_threadpool(self.store.create_session, session)
        updated = await run_in_threadpool(self.store.update_user, user.id, last_login_at=now, **changes)
        await self.audit(None, "login", target=user.email, detail={"via": via}, address=address, actor=user.email,
                         actor_id=user.id)  # fmt: skip
        return SignIn(token, csrf, updated or user)

    async def logout(self, principal: Principal) -> None:
        if principal.session_hash is not None:
            await run_in_threadpool(self.store.delete_session, principal.session_hash)
        await self.audit(principal, "logout")

    async def logout_everywhere(self, principal: Principal) -> int:
        user = self._user(principal)
        ended = await run_in_threadpool(self.store.delete_user_sessions, user.id, None)
        await self.audit(principal, "logout.everywhere", detail={"sessions": ended})
        return ended

    async def change_password(self, principal: Principal, current: str, new: str) -> User:
        """Change the caller's password (the temporary one too); ends their other sessions."""
        user = self._user(principal)
        if principal.kind != "session":
            raise ForbiddenRoleError("a password is changed from a signed-in session")
        await self._check("account", _account(user.email))
        if not await run_in_threadpool(self.passwords.verify, user.password_hash, current):
            await self._failed("account", _account(user.email))
            await self.audit(principal, "password.change_failed")
            raise InvalidCredentialsError("the current password is wrong", code="wrong_password")
        if problem := password_problem(new):
            raise ValidationFailedError(problem, code="weak_password")
        if new == current:
            raise ValidationFailedError("the new password is the current one", code="weak_password")
        hashed = await run_in_threadpool(self.passwords.hash, new)
        updated = await run_in_threadpool(
            self.store.update_user, user.id, password_hash=hashed, must_change_password=False
        )
        ended = await run_in_threadpool(self.store.delete_user_sessions, user.id, principal.session_hash)
        await self.audit(principal, "password.change", detail={"other_sessions_ended": ended})
        if updated is None:
            raise UnauthenticatedError("this account no longer exists")
        return updated

    # --- who is calling -------------------------------------------------------------------------

    @staticmethod
    def csrf_token(session_token: str) -> str:
        return tokens.csrf_for(session_token)

    async def authenticate_session(self, token: str, *, address: str | None = None) -> Principal:
        """The caller of a ``prism_session`` cookie; 401 when it is unknown, expired or its user disabled."""
        id_hash = tokens.digest(token)
        found = await run_in_threadpool(self.store.session_with_user, id_hash)
        if found is None:
            raise UnauthenticatedError("not signed in (or the session ended): sign in again")
        session, user = found
        now = self.clock()
        if now >= session.expires_at or now >= session.last_seen_at + self.policy.session_idle or user.disabled:
            await run_in_threadpool(self.store.delete_session, id_hash)
            raise UnauthenticatedError("the session ended: sign in again")
        if now - session.last_seen_at >= TOUCH_EVERY:
            await run_in_threadpool(self.store.touch_session, id_hash, now)
        return Principal(
            kind="session",
            role=user.role,
            user=user,
            session_hash=id_hash,
            csrf_hash=session.csrf_hash,
            address=address,
        )

    async def authenticate_bearer(self, token: str, *, address: str) -> Principal:
        """The caller of an ``Authorization: Bearer`` API key; 401 for a key that is unknown, revoked,
        expired or of a disabled user. An ingestion key is a ``ingest_key`` principal (``require``
        refuses it)."""
        await self._check("address", address, rule="auth_failures", what="failed authentications")
        parsed = tokens.parse_api_key(token)
        found = await run_in_threadpool(self.store.key_by_prefix, parsed[1]) if parsed else None
        now = self.clock()
        if found is None or not tokens.matches(token, found[0].secret_hash) or not found[0].usable(now):
            await self._failed("address", address, rule="auth_failures", what="failed authentications")
            raise UnauthenticatedError("invalid, revoked or expired API key")
        key, user = found
        if key.last_used_at is None or now - key.last_used_at >= TOUCH_EVERY:
            await run_in_threadpool(self.store.touch_key, key.id, now)
        if key.kind == "ingest":
            return Principal(kind="ingest_key", role=Role.viewer, project=key.project_slug, key_id=key.id,
                             address=address)  # fmt: skip
        if user is None or user.disabled:
            await self._failed("address", address, rule="auth_failures", what="failed authentications")
            raise UnauthenticatedError("invalid, revoked or expired API key")
        role = user.role if Role.member.allows(user.role) else Role.member  # capped at member
        return Principal(kind="read_token", role=role, user=user, key_id=key.id, address=address)

    # --- users ----------------------------------------------------------------------------------

    async def list_users(self, by: Principal) -> list[User]:
        self._admin(by)
        return await run_in_threadpool(self.store.list_users)

    async def invite_user(
        self, by: Principal, email: str, role: Role | str, *, name: str | None = None, method: str = "link"
    ) -> Invitation:
        """A new user who signs in the first time with an invite link (``method="link"``: the token
        is valid ``policy.invite_ttl``, once) or a temporary password they must change (``"password"``)."""
        self._admin(by)
        email = normalize_email(email)
        now = self.clock()
        temporary = tokens.new_temporary_password() if method == "password" else None
        if method not in ("link", "password"):
            raise ValidationFailedError("method is link or password", code="invalid_method")
        hashed = await run_in_threadpool(self.passwords.hash, temporary) if temporary else None
        user = User(
            id=uuid4(),
            email=email,
            name=name,
            role=_role(role),
            created_at=now,
            password_hash=hashed,
            must_change_password=temporary is not None,
        )
        user = await run_in_threadpool(self.store.create_user, user)
        link = None
        if method == "link":
            link = tokens.new_invite_token()
            invite = Invite(tokens.digest(link), user.id, now, now + self.policy.invite_ttl, created_by=by.user_id)
            await run_in_threadpool(self.store.create_invite, invite)
        await self.audit(by, "user.invite", target=email, detail={"role": user.role.value, "method": method})
        return Invitation(user, temporary, link)

    async def update_user(
        self,
        by: Principal,
        user_id: UUID,
        *,
        role: Role | str | None = None,
        disabled: bool | None = None,
        name: str | None = None,
    ) -> User:
        """Change a user's role, name or disabled state. Disabling ends their sessions; no change may
        leave no active admin."""
        self._admin(by)
        user = await self._get_user(user_id)
        changes: dict[str, Any] = {}
        if role is not None and _role(role) != user.role:
            changes["role"] = _role(role)
        if name is not None and name != user.name:
            changes["name"] = name
        if disabled is not None and disabled != user.disabled:
            if disabled and user.id == by.user_id:
                raise ConflictError("you cannot disable yourself", code="self_change")
            changes["disabled_at"] = self.clock() if disabled else None
        losing_admin = (
            user.role is Role.admin
            and not user.disabled
            and (changes.get("role", Role.admin) is not Role.admin or changes.get("disabled_at") is not None)
        )
        if losing_admin and not await run_in_threadpool(self.store.count_active_admins, user.id):
            raise LastAdminError("this is the last active admin: make another admin first")
        if not changes:
            return user
        updated = await run_in_threadpool(self.store.update_user, user.id, **changes)
        if updated is None:
            raise UserNotFoundError(f"user {user_id} not found")
        if changes.get("disabled_at") is not None:
            await run_in_threadpool(self.store.delete_user_sessions, user.id, None)
        detail = {k: (v.value if isinstance(v, Role) else v is not None if k == "disabled_at" else v)
                  for k, v in changes.items()}  # fmt: skip
        if "disabled_at" in detail:
            detail["disabled"] = detail.pop("disabled_at")
        action = "user.role" if "role" in changes else "user.disable" if disabled else "user.update"
        if disabled is False and "disabled_at" in changes and "role" not in changes:
            action = "user.enable"
        await self.audit(by, action, target=user.email, detail=detail)
        return updated

    async def delete_user(self, by: Principal, user_id: UUID) -> None:
        self._admin(by)
        user = await self._get_user(user_id)
        if user.id == by.user_id:
            raise ConflictError("you cannot delete yourself", code="self_change")
        if (
            user.role is Role.admin
            and not user.disabled
            and not await run_in_threadpool(self.store.count_active_admins, user.id)
        ):
            raise LastAdminError("this is the last active admin: make another admin first")
        await run_in_threadpool(self.store.delete_user, user.id)  # its sessions, keys, invites go with it
        await self.audit(by, "user.delete", target=user.email)

    async def _get_user(self, user_id: UUID) -> User:
        user = await run_in_threadpool(self.store.get_user, user_id)
        if user is None:
            raise UserNotFoundError(f"user {user_id} not found")
        return user

    # --- API keys -------------------------------------------------------------------------------

    async def list_keys(self, by: Principal) -> list[ApiKey]:
        self._admin(by)
        return await run_in_threadpool(self.store.list_keys)

    async def create_key(
        self,
        by: Principal,
        kind: KeyKind,
        name: str,
        *,
        project: str | None = None,
        user_id: UUID | None = None,
        expires_at: datetime | None = None,
    ) -> tuple[ApiKey, str]:
        """A new key and its token (shown once; only its digest is kept). An ingestion key writes to
        ``project``; a read token reads as ``user_id`` (default: the caller)."""
        self._admin(by)
        now = self.clock()
        if expires_at is not None and expires_at <= now:
            raise ValidationFailedError("expires_at is in the past", code="invalid_expiry")
        project_row: Project | None = None
        owner: User | None = None
        if kind == "ingest":
            project_row = await self._get_project(project or "")
        elif kind == "read":
            owner = await self._get_user(user_id or self._user(by).id)
        else:
            raise ValidationFailedError("kind is ingest or read", code="invalid_kind")
        new = tokens.new_api_key(kind)
        key = ApiKey(
            id=uuid4(),
            kind=kind,
            prefix=new.prefix,
            secret_hash=new.secret_hash,
            name=name,
            created_at=now,
            project_id=project_row.id if project_row else None,
            user_id=owner.id if owner else None,
            created_by=by.user_id,
            expires_at=expires_at,
            project_slug=project_row.slug if project_row else None,
            user_email=owner.email if owner else None,
        )
        key = await run_in_threadpool(self.store.create_key, key)
        detail = {"kind": kind, "name": name, "prefix": key.prefix, "project": key.project_slug,
                  "user": key.user_email, "expires_at": expires_at.isoformat() if expires_at else None}  # fmt: skip
        await self.audit(by, "key.create", target=key.prefix, detail=detail)
        return key, new.token

    async def revoke_key(self, by: Principal, key_id: UUID) -> ApiKey:
        self._admin(by)
        key = await run_in_threadpool(self.store.revoke_key, key_id, self.clock())
        if key is None:
            raise KeyNotFoundError(f"key {key_id} not found (or revoked already)")
        await self.audit(by, "key.revoke", target=key.prefix, detail={"kind": key.kind, "name": key.name})
        return key

    # --- projects -------------------------------------------------------------------------------

    async def list_projects(self) -> list[Project]:
        return await run_in_threadpool(self.store.list_projects)

    async def create_project(self, by: Principal, slug: str, name: str) -> Project:
        self._admin(by)
        if not SLUG.match(slug):
            raise ValidationFailedError(
                "a project slug is 1 to 63 lower-case letters, digits and '-', starting with a letter or digit",
                code="invalid_slug",
            )
        project = Project(id=uuid4(), slug=slug, name=name, created_at=self.clock())
        project = await run_in_threadpool(self.store.create_project, project)
        await self.audit(by, "project.create", target=slug, detail={"name": name})
        return project

    async def rename_project(self, by: Principal, slug: str, name: str) -> Project:
        self._admin(by)
        project = await run_in_threadpool(self.store.rename_project, slug, name)
        if project is None:
            raise ProjectNotFoundError(f"project {slug!r} not found")
        await self.audit(by, "project.rename", target=slug, detail={"name": name})
        return project

    async def delete_project(self, by: Principal, slug: str) -> None:
        """Delete a project and its ingestion keys (its events stay, under its slug). Not ``default``,
        nor the chat's project."""
        self._admin(by)
        if slug == DEFAULT_PROJECT or slug == await self.chat_project():
            raise ConflictError(f"project {slug!r} is in use (default or the chat's)", code="project_in_use")
        if not await run_in_threadpool(self.store.delete_project, slug):
            raise ProjectNotFoundError(f"project {slug!r} not found")
        await self.audit(by, "project.delete", target=slug)

    async def _get_project(self, slug: str) -> Project:
        project = await run_in_threadpool(self.store.get_project, slug) if slug else None
        if project is None:
            raise ProjectNotFoundError(f"project {slug!r} not found")
        return project

    async def chat_project(self) -> str:
        value = await run_in_threadpool(self.store.get_config, CHAT_PROJECT)
        return value if isinstance(value, str) else "chat"

    async def set_chat_project(self, by: Principal, slug: str) -> str:
        self._admin(by)
        await self._get_project(slug)
        await run_in_threadpool(self.store.set_chat_project, slug)  # the chat's key moves with it
        await self.audit(by, "config.chat_project", target=slug)
        return slug

    # --- the audit log --------------------------------------------------------------------------

    async def audit(
        self,
        by: Principal | None,
        action: str,
        *,
        target: str | None = None,
        detail: dict[str, Any] | None = None,
        address: str | None = None,
        actor: str | None = None,
        actor_id: UUID | None = None,
    ) -> None:
        """Record an action (``detail`` must hold no secret). Also for other functions' changes, e.g.
        the chat's provider keys: ``audit(principal, "provider.set", target="openai")``."""
        entry = AuditEntry(
            at=self.clock(),
            actor=actor or (by.label if by else "system"),
            actor_id=actor_id or (by.user_id if by else None),
            action=action,
            target=target,
            detail={k: v for k, v in (detail or {}).items() if v is not None},
            address=address or (by.address if by else None),
        )
        await run_in_threadpool(self.store.add_audit, entry)
        await self._housekeep()

    async def audit_page(
        self, by: Principal, *, cursor: str | None = None, limit: int = 50, actions: Sequence[str] = ()
    ) -> AuditPage:
        """Newest first; ``next_cursor`` continues with older entries."""
        self._admin(by)
        before = None
        if cursor:
            if not cursor.isdigit():
                raise ValidationFailedError("invalid cursor", code="invalid_cursor")
            before = int(cursor)
        rows = await run_in_threadpool(self.store.list_audit, before, limit + 1, actions)
        more = len(rows) > limit
        rows = rows[:limit]
        return AuditPage(rows, str(rows[-1].id) if more and rows else None)

    async def _housekeep(self) -> None:
        """Drop audit entries past their retention and sessions past their absolute expiry, at most
        once an hour per process."""
        now = self.clock()
        if self._housekept is not None and now - self._housekept < HOUSEKEEPING_EVERY:
            return
        self._housekept = now
        await run_in_threadpool(self.store.purge_audit, now - self.policy.audit_retention)
        await run_in_threadpool(self.store.purge_sessions, now)

    # --- helpers --------------------------------------------------------------------------------

    @staticmethod
    def _user(principal: Principal) -> User:
        if principal.user is None:
            raise ForbiddenRoleError("this needs a signed-in user")
        return principal.user

    @staticmethod
    def _admin(principal: Principal) -> None:
        if principal.user is None or not principal.role.allows(Role.admin):
            raise ForbiddenRoleError("this needs the admin role")

    async def _check(self, kind: str, who: str, *, rule: str = "login_failures", what: str = FAILED_SIGN_INS) -> None:
        if self.limiter is not None:
            await self.limiter.check(rule, kind, who, what=what)

    async def _failed(self, kind: str, who: str, *, rule: str = "login_failures", what: str = FAILED_SIGN_INS) -> None:
        if self.limiter is not None:
            await self.limiter.hit(rule, kind, who, what=what)
