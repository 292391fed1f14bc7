"""The identity store: users, sessions, API keys, projects, invites, the audit log and run-time
settings. Every method is one statement (or one transaction) and synchronous: the service calls it
in a worker thread. Adapters: :mod:`prism.adapters.postgres_identity`, and the fake
``MemoryIdentityStore`` in :mod:`prism.adapters.memory`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from prism.identity.model import ApiKey, AuditEntry, Invite, Project, Session, User


class IdentityStore(Protocol):
    # --- users
    def count_users(self) -> int: ...

    def get_user(self, user_id: UUID) -> User | None: ...

    def find_user_by_email(self, email: str) -> User | None:
        """Case-insensitive."""
        ...

    def find_user_by_oidc(self, issuer: str, subject: str) -> User | None: ...

    def list_users(self) -> list[User]: ...

    def create_user(self, user: User) -> User:
        """Raises ``EmailTakenError`` when another user has that e-mail (any case)."""
        ...

    def update_user(self, user_id: UUID, **changes: Any) -> User | None:
        """Set the given columns (``role``, ``disabled_at``, ``password_hash``,
        ``must_change_password``, ``name``, ``last_login_at``, ``oidc_issuer``, ``oidc_subject``);
        None when there is no such user."""
        ...

    def delete_user(self, user_id: UUID) -> bool: ...

    def count_active_admins(self, excluding: UUID | None = None) -> int: ...

    # --- sessions
    def create_session(self, session: Session) -> None: ...

    def session_with_user(self, id_hash: bytes) -> tuple[Session, User] | None:
        """The session and its user, in one indexed lookup."""
        ...

    def touch_session(self, id_hash: bytes, at: datetime) -> None: ...

    def delete_session(self, id_hash: bytes) -> None: ...

    def delete_user_sessions(self, user_id: UUID, keep: bytes | None = None) -> int:
        """End every session of the user but ``keep``; how many."""
        ...

    def purge_sessions(self, before: datetime) -> int:
        """Delete sessions whose absolute expiry is before ``before``."""
        ...

    # --- API keys
    def create_key(self, key: ApiKey) -> ApiKey: ...

    def key_by_prefix(self, prefix: str) -> tuple[ApiKey, User | None] | None:
        """The key (with its project's slug) and, for a read token, its user."""
        ...

    def list_keys(self) -> list[ApiKey]: ...

    def revoke_key(self, key_id: UUID, at: datetime) -> ApiKey | None:
        """Revoke a key not yet revoked; None when there is no such key."""
        ...

    def touch_key(self, key_id: UUID, at: datetime) -> None: ...

    # --- projects
    def list_projects(self) -> list[Project]: ...

    def get_project(self, slug: str) -> Project | None: ...

    def create_project(self, project: Project) -> Project:
        """Raises ``ConflictError`` (``project_exists``) for a slug in use."""
        ...

    def rename_project(self, slug: str, name: str) -> Project | None: ...

    def delete_project(self, slug: str) -> bool: ...

    # --- invites
    def create_invite(self, invite: Invite) -> None: ...

    def use_invite(self, token_hash: bytes, at: datetime) -> Invite | None:
        """Mark the invite used and return it, once, if it is unused and not expired at ``at``."""
        ...

    def delete_user_invites(self, user_id: UUID) -> None: ...

    # --- the audit log
    def add_audit(self, entry: AuditEntry) -> None: ...

    def list_audit(self, before_id: int | None, limit: int, actions: Sequence[str] = ()) -> list[AuditEntry]:
        """Newest first, ids below ``before_id``."""
        ...

    def purge_audit(self, before: datetime) -> int: ...

    # --- run-time settings
    def get_config(self, key: str) -> Any | None: ...

    def set_config(self, key: str, value: Any) -> None: ...

    def set_chat_project(self, slug: str) -> None:
        """Make ``slug`` the chat's project: the ``chat_project`` value and the chat's own ingestion
        key (kind ingest, name ``chat``) move together, so the chat's next events land there
        (ingestion's key cache: within 30 s) without restarting the chat."""
        ...
