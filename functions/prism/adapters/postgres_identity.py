"""The identity store on PostgreSQL (migration 006): users, sessions, API keys, projects, invites,
the audit log and ``app_config``. One statement per method, in autocommit (the pool's); times come
from the caller's clock, never ``now()``, so what the service decides and what is stored agree."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from prism.adapters.postgres_pool import PooledPostgres, columns
from prism.errors import ConflictError
from prism.identity.errors import EmailTakenError
from prism.identity.model import ApiKey, AuditEntry, Invite, Project, Role, Session, User

USER_COLUMNS = (
    "id",
    "email",
    "name",
    "password_hash",
    "role",
    "must_change_password",
    "disabled_at",
    "oidc_issuer",
    "oidc_subject",
    "created_at",
    "last_login_at",
)
SESSION_COLUMNS = (
    "id_hash",
    "user_id",
    "csrf_hash",
    "created_at",
    "last_seen_at",
    "expires_at",
    "address",
    "user_agent",
)
KEY_COLUMNS = (
    "id",
    "kind",
    "prefix",
    "secret_hash",
    "name",
    "project_id",
    "user_id",
    "created_by",
    "created_at",
    "last_used_at",
    "expires_at",
    "revoked_at",
)
UPDATABLE = {
    "role",
    "disabled_at",
    "password_hash",
    "must_change_password",
    "name",
    "last_login_at",
    "oidc_issuer",
    "oidc_subject",
}
_USERS = sql.SQL(", ").join(sql.Identifier("u", c) for c in USER_COLUMNS)
_KEYS_SELECT = sql.SQL(
    "SELECT {k}, p.slug AS project_slug, o.email AS user_email FROM api_keys k"
    " LEFT JOIN projects p ON p.id = k.project_id LEFT JOIN users o ON o.id = k.user_id"
).format(k=sql.SQL(", ").join(sql.Identifier("k", c) for c in KEY_COLUMNS))


def _aliased(table: str, names: Sequence[str]) -> sql.Composable:
    """``t.c AS t_c, ...``: a join's columns, apart."""
    return sql.SQL(", ").join(
        sql.SQL("{} AS {}").format(sql.Identifier(table, c), sql.Identifier(f"{table}_{c}")) for c in names
    )


def _user(row: dict[str, Any], prefix: str = "") -> User:
    values = {c: row[prefix + c] for c in USER_COLUMNS}
    values["role"] = Role(values["role"])
    return User(**values)


def _key(row: dict[str, Any]) -> ApiKey:
    return ApiKey(
        **{c: row[c] for c in KEY_COLUMNS},
        project_slug=row.get("project_slug"),
        user_email=row.get("user_email"),
    )


def _project(row: dict[str, Any]) -> Project:
    return Project(id=row["id"], slug=row["slug"], name=row["name"], created_at=row["created_at"])


class PostgresIdentityStore(PooledPostgres):
    def __init__(self, dsn: str, *, min_size: int = 1, max_size: int = 4, timeout: float = 10.0) -> None:
        super().__init__(dsn, name="prism-identity", min_size=min_size, max_size=max_size, timeout=timeout)

    # --- users

    def count_users(self) -> int:
        with self._conn() as conn:
            row = conn.execute("SELECT count(*) AS n FROM users").fetchone()
            return int(row["n"]) if row else 0

    def _one_user(self, where: sql.Composable, params: Sequence[Any]) -> User | None:
        query = sql.SQL("SELECT {cols} FROM users u WHERE {where}").format(cols=_USERS, where=where)
        with self._conn() as conn:
            row = conn.execute(query, params).fetchone()
        return _user(row) if row else None

    def get_user(self, user_id: UUID) -> User | None:
        return self._one_user(sql.SQL("u.id = %s"), (user_id,))

    def find_user_by_email(self, email: str) -> User | None:
        return self._one_user(sql.SQL("lower(u.email) = lower(%s)"), (email.strip(),))

    def find_user_by_oidc(self, issuer: str, subject: str) -> User | None:
        return self._one_user(sql.SQL("u.oidc_issuer = %s AND u.oidc_subject = %s"), (issuer, subject))

    def list_users(self) -> list[User]:
        query = sql.SQL("SELECT {cols} FROM users u ORDER BY u.created_at, u.email").format(cols=_USERS)
        with self._conn() as conn:
            return [_user(r) for r in conn.execute(query).fetchall()]

    def create_user(self, user: User) -> User:
        values = {c: getattr(user, c) for c in USER_COLUMNS}
        values["role"] = user.role.value
        query = sql.SQL("INSERT INTO users ({cols}) VALUES ({vals})").format(
            cols=columns(*USER_COLUMNS), vals=sql.SQL(", ").join(sql.Placeholder(c) for c in USER_COLUMNS)
        )
        with self._conn() as conn:
            try:
                conn.execute(query, values)
            except psycopg.errors.UniqueViolation:
                raise EmailTakenError("a user with this e-mail (or this single sign-on identity) exists") from None
        return user

    def update_user(self, user_id: UUID, **changes: Any) -> User | None:
        unknown = set(changes) - UPDATABLE
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        if not changes:
            return self.get_user(user_id)
        values = {k: (v.value if isinstance(v, Role) else v) for k, v in changes.items()}
        query = sql.SQL("UPDATE users u SET {sets} WHERE u.id = %(id)s RETURNING {cols}").format(
            sets=sql.SQL(", ").join(sql.SQL("{} = {}").format(sql.Identifier(k), sql.Placeholder(k)) for k in values),
            cols=_USERS,
        )
        with self._conn() as conn:
            try:
                row = conn.execute(query, {**values, "id": user_id}).fetchone()
            except psycopg.errors.UniqueViolation:
                raise EmailTakenError("this single sign-on identity belongs to another user") from None
        return _user(row) if row else None

    def delete_user(self, user_id: UUID) -> bool:
        with self._conn() as conn:
            return conn.execute("DELETE FROM users WHERE id = %s", (user_id,)).rowcount > 0

    def count_active_admins(self, excluding: UUID | None = None) -> int:
        with self._conn() as conn:
            row = conn.execute(
                "SELECT count(*) AS n FROM users WHERE role = 'admin' AND disabled_at IS NULL"
                " AND id IS DISTINCT FROM %s",
                (excluding,),
            ).fetchone()
            return int(row["n"]) if row else 0

    # --- sessions

    def create_session(self, session: Session) -> None:
        query = sql.SQL("INSERT INTO sessions ({cols}) VALUES ({vals})").format(
            cols=columns(*SESSION_COLUMNS), vals=sql.SQL(", ").join(sql.Placeholder() * len(SESSION_COLUMNS))
        )
        with self._conn() as conn:
            conn.execute(query, [getattr(session, c) for c in SESSION_COLUMNS])

    def session_with_user(self, id_hash: bytes) -> tuple[Session, User] | None:
        query = sql.SQL("SELECT {s}, {u} FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = %s").format(
            s=_aliased("s", SESSION_COLUMNS), u=_aliased("u", USER_COLUMNS)
        )
        with self._conn() as conn:
            row = conn.execute(query, (id_hash,)).fetchone()
        if row is None:
            return None
        session = Session(**{c: row[f"s_{c}"] for c in SESSION_COLUMNS})
        return session, _user(row, "u_")

    def touch_session(self, id_hash: bytes, at: datetime) -> None:
        with self._conn() as conn:
            conn.execute("UPDATE sessions SET last_seen_at = %s WHERE id_hash = %s", (at, id_hash))

    def delete_session(self, id_hash: bytes) -> None:
        with self._conn() as conn:
            conn.execute("DELETE FROM sessions WHERE id_hash = %s", (id_hash,))

    def delete_user_sessions(self, user_id: UUID, keep: bytes | None = None) -> int:
        with self._conn() as conn:
            return conn.execute(
                "DELETE FROM sessions WHERE user_id = %s AND id_hash IS DISTINCT FROM %s", (user_id, keep)
            ).rowcount

    def purge_sessions(self, before: datetime) -> int:
        with self._conn() as conn:
            return conn.execute("DELETE FROM sessions WHERE expires_at < %s", (before,)).rowcount

    # --- API keys

    def create_key(self, key: ApiKey) -> ApiKey:
        query = sql.SQL("INSERT INTO api_keys ({cols}) VALUES ({vals})").format(
            cols=columns(*KEY_COLUMNS), vals=sql.SQL(", ").join(sql.Placeholder() * len(KEY_COLUMNS))
        )
        with self._conn() as conn:
            conn.execute(query, [getattr(key, c) for c in KEY_COLUMNS])
        return key

    def key_by_prefix(self, prefix: str) -> tuple[ApiKey, User | None] | None:
        with self._conn() as conn:
            row = conn.execute(_KEYS_SELECT + sql.SQL(" WHERE k.prefix = %s"), (prefix,)).fetchone()
        if row is None:
            return None
        key = _key(row)
        return key, self.get_user(key.user_id) if key.user_id else None

    def list_keys(self) -> list[ApiKey]:
        with self._conn() as conn:
            rows = conn.execute(_KEYS_SELECT + sql.SQL(" ORDER BY k.created_at DESC, k.id")).fetchall()
        return [_key(r) for r in rows]

    def revoke_key(self, key_id: UUID, at: datetime) -> ApiKey | None:
        with self._conn() as conn:
            row = conn.execute(
                "UPDATE api_keys SET revoked_at = %s WHERE id = %s AND revoked_at IS NULL RETURNING id", (at, key_id)
            ).fetchone()
            if row is None:
                return None
            found = conn.execute(_KEYS_SELECT + sql.SQL(" WHERE k.id = %s"), (key_id,)).fetchone()
        return _key(found) if found else None

    def touch_key(self, key_id: UUID, at: datetime) -> None:
        with self._conn() as conn:
            conn.execute("UPDATE api_keys SET last_used_at = %s WHERE id = %s", (at, key_id))

    # --- projects

    def list_projects(self) -> list[Project]:
        with self._conn() as conn:
            return [_project(r) for r in conn.execute("SELECT * FROM projects ORDER BY slug").fetchall()]

    def get_project(self, slug: str) -> Project | None:
        with self._conn() as conn:
            row = conn.execute("SELECT * FROM projects WHERE slug = %s", (slug,)).fetchone()
        return _project(row) if row else None

    def create_project(self, project: Project) -> Project:
        with self._conn() as conn:
            try:
                conn.execute(
                    "INSERT INTO projects (id, slug, name, created_at) VALUES (%s, %s, %s, %s)",
                    (project.id, project.slug, project.name, project.created_at),
                )
            except psycopg.errors.UniqueViolation:
                raise ConflictError(f"project {project.slug!r} exists", code="project_exists") from None
        return project

    def rename_project(self, slug: str, name: str) -> Project | None:
        with self._conn() as conn:
            row = conn.execute("UPDATE projects SET name = %s WHERE slug = %s RETURNING *", (name, slug)).fetchone()
        return _project(row) if row else None

    def delete_project(self, slug: str) -> bool:
        with self._conn() as conn:
            return conn.execute("DELETE FROM projects WHERE slug = %s", (slug,)).rowcount > 0

    # --- invites

    def create_invite(self, invite: Invite) -> None:
        with self._conn() as conn:
            conn.execute(
                "INSERT INTO invites (token_hash, user_id, created_by, created_at, expires_at)"
                " VALUES (%s, %s, %s, %s, %s)",
                (invite.token_hash, invite.user_id, invite.created_by, invite.created_at, invite.expires_at),
            )

    def use_invite(self, token_hash: bytes, at: datetime) -> Invite | None:
        with self._conn() as conn:
            row = conn.execute(
                "UPDATE invites SET used_at = %(at)s WHERE token_hash = %(h)s AND used_at IS NULL"
                " AND expires_at > %(at)s RETURNING *",
                {"at": at, "h": token_hash},
            ).fetchone()
        return Invite(**row) if row else None

    def delete_user_invites(self, user_id: UUID) -> None:
        with self._conn() as conn:
            conn.execute("DELETE FROM invites WHERE user_id = %s", (user_id,))

    # --- the audit log

    def add_audit(self, entry: AuditEntry) -> None:
        with self._conn() as conn:
            conn.execute(
                "INSERT INTO audit_log (at, actor_id, actor, action, target, detail, address)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (entry.at, entry.actor_id, entry.actor, entry.action, entry.target, Jsonb(entry.detail), entry.address),
            )

    def list_audit(self, before_id: int | None, limit: int, actions: Sequence[str] = ()) -> list[AuditEntry]:
        with self._conn() as conn:
            rows = conn.execute(
                "SELECT * FROM audit_log WHERE (%(before)s::bigint IS NULL OR id < %(before)s)"
                " AND (cardinality(%(actions)s::text[]) = 0 OR action = ANY(%(actions)s))"
                " ORDER BY id DESC LIMIT %(limit)s",
                {"before": before_id, "actions": list(actions), "limit": limit},
            ).fetchall()
        return [AuditEntry(**r) for r in rows]

    def purge_audit(self, before: datetime) -> int:
        with self._conn() as conn:
            return conn.execute("DELETE FROM audit_log WHERE at < %s", (before,)).rowcount

    # --- run-time settings

    def get_config(self, key: str) -> Any | None:
        with self._conn() as conn:
            row = conn.execute("SELECT value FROM app_config WHERE key = %s", (key,)).fetchone()
        return row["value"] if row else None

    def set_chat_project(self, slug: str) -> None:
        with self._conn() as conn, conn.transaction():
            conn.execute(
                "INSERT INTO app_config (key, value) VALUES ('chat_project', %s)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (Jsonb(slug),),
            )
            conn.execute(
                "UPDATE api_keys SET project_id = (SELECT id FROM projects WHERE slug = %s)"
                " WHERE kind = 'ingest' AND name = 'chat' AND revoked_at IS NULL",
                (slug,),
            )

    def set_config(self, key: str, value: Any) -> None:
        with self._conn() as conn:
            conn.execute(
                "INSERT INTO app_config (key, value) VALUES (%s, %s)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, Jsonb(value)),
            )
