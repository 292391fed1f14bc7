"""``IngestKeys`` on PostgreSQL: the ``api_keys`` and ``projects`` tables of migration 006.

A small pool opened on first use: an ingestion API that only ever sees ``PRISM_API_KEY`` keys never
connects. One indexed statement per call (``api_keys.prefix`` is unique).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from prism.adapters.postgres_pool import PooledPostgres
from prism.keys import IngestKey, digest, lookup_prefix

_FIND = """
SELECT k.id, k.prefix, p.slug AS project, k.secret_hash, k.expires_at
FROM api_keys k JOIN projects p ON p.id = k.project_id
WHERE k.prefix = %s AND k.kind = 'ingest' AND k.revoked_at IS NULL
"""

# Insert the key, or move it (same prefix and digest) to the project; a revoked key stays revoked and
# a prefix held by another key is left alone (no row comes back).
_REGISTER = """
WITH target AS (
    SELECT id, slug FROM projects
    WHERE slug = coalesce(%(project)s, (SELECT value #>> '{}' FROM app_config WHERE key = 'chat_project'), 'chat')
)
INSERT INTO api_keys AS k (kind, prefix, secret_hash, name, project_id)
SELECT 'ingest', %(prefix)s, %(hash)s, %(name)s, id FROM target
ON CONFLICT (prefix) DO UPDATE SET project_id = EXCLUDED.project_id
WHERE k.secret_hash = EXCLUDED.secret_hash AND k.kind = 'ingest'
RETURNING k.id, k.prefix, (SELECT slug FROM target) AS project, k.secret_hash, k.expires_at, k.revoked_at
"""


class PostgresIngestKeys(PooledPostgres):
    def __init__(self, dsn: str, *, max_size: int = 2, timeout: float = 3.0) -> None:
        super().__init__(dsn, name="prism-ingest-keys", min_size=1, max_size=max_size, timeout=timeout)

    def find(self, prefix: str) -> IngestKey | None:
        with self._conn() as conn:
            row = conn.execute(_FIND, (prefix,)).fetchone()
        return None if row is None else _key(row)

    def touch(self, key_id: UUID, at: datetime) -> None:
        with self._conn() as conn:
            conn.execute(
                "UPDATE api_keys SET last_used_at = %s WHERE id = %s AND (last_used_at IS NULL OR last_used_at < %s)",
                (at, key_id, at),
            )

    def register(self, token: str, name: str, project: str | None = None) -> IngestKey | None:
        prefix = lookup_prefix(token)
        if prefix is None:
            raise ValueError("a read token cannot be registered as an ingestion key")
        params = {"project": project, "prefix": prefix, "hash": digest(token), "name": name}
        with self._conn() as conn:
            row = conn.execute(_REGISTER, params).fetchone()
        if row is None or row["revoked_at"] is not None:
            return None
        return _key(row)


def _key(row: dict[str, Any]) -> IngestKey:
    return IngestKey(
        id=row["id"],
        prefix=row["prefix"],
        project=row["project"],
        secret_hash=bytes(row["secret_hash"]),
        expires_at=row["expires_at"],
    )
