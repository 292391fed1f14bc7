"""What identity is made of: roles, users, projects, sessions, API keys, invites, audit entries, and
the Principal (who is calling)."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal
from uuid import UUID


class Role(StrEnum):
    """``admin`` > ``member`` > ``viewer``: each role may do what the ones below it may."""

    admin = "admin"
    member = "member"
    viewer = "viewer"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def allows(self, required: Role) -> bool:
        return self.rank >= required.rank


_RANK = {Role.viewer: 0, Role.member: 1, Role.admin: 2}

KeyKind = Literal["ingest", "read"]
PrincipalKind = Literal["session", "read_token", "ingest_key"]


@dataclass(frozen=True)
class User:
    id: UUID
    email: str
    role: Role
    created_at: datetime
    name: str | None = None
    password_hash: str | None = None  # never leaves the service
    must_change_password: bool = False
    disabled_at: datetime | None = None
    oidc_issuer: str | None = None
    oidc_subject: str | None = None
    last_login_at: datetime | None = None

    @property
    def disabled(self) -> bool:
        return self.disabled_at is not None


@dataclass(frozen=True)
class Project:
    id: UUID
    slug: str
    name: str
    created_at: datetime


@dataclass(frozen=True)
class Session:
    id_hash: bytes
    user_id: UUID
    csrf_hash: bytes
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    address: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True)
class ApiKey:
    id: UUID
    kind: KeyKind
    prefix: str
    secret_hash: bytes
    name: str
    created_at: datetime
    project_id: UUID | None = None
    user_id: UUID | None = None
    created_by: UUID | None = None
    last_used_at: datetime | None = None
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    # Joined for lists: the project's slug, the owner's e-mail.
    project_slug: str | None = None
    user_email: str | None = None

    def usable(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)


@dataclass(frozen=True)
class Invite:
    token_hash: bytes
    user_id: UUID
    created_at: datetime
    expires_at: datetime
    created_by: UUID | None = None
    used_at: datetime | None = None


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    actor: str
    action: str
    actor_id: UUID | None = None
    target: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    address: str | None = None
    id: int | None = None


@dataclass(frozen=True)
class Principal:
    """Who is calling: a signed-in user (``session``), a user's read token (``read_token``) or an
    ingestion key (``ingest_key``: no user, one project). ``address``: the client address."""

    kind: PrincipalKind
    role: Role
    user: User | None = None
    project: str | None = None  # an ingestion key's project slug
    session_hash: bytes | None = None
    csrf_hash: bytes | None = None
    key_id: UUID | None = None
    address: str | None = None

    @property
    def user_id(self) -> UUID | None:
        return self.user.id if self.user else None

    @property
    def label(self) -> str:
        """How the audit log names this caller."""
        if self.user is not None:
            return self.user.email
        return f"key:{self.key_id}" if self.key_id else self.kind

    def csrf_ok(self, token: str | None) -> bool:
        """True when ``token`` is this session's CSRF token (constant-time)."""
        if self.csrf_hash is None or not token:
            return False
        return hmac.compare_digest(hashlib.sha256(token.encode()).digest(), self.csrf_hash)
