"""Ingestion keys: the port through which a bearer token is resolved to the project it writes to.

Keys listed in ``PRISM_API_KEY`` belong to the ``default`` project and never reach this port (the
ingestion API compares them itself). Any other token must have the form of a key made by the
identity API, ``prism_ik_<id12>_<secret43>`` (:mod:`prism.identity.tokens`): it is looked up by its
visible prefix ``prism_ik_<id12>``, and the SHA-256 of the whole token is compared, in constant
time, with the stored ``secret_hash``. A token of any other form is refused without a lookup, so
guessed or garbage tokens cost no database round trip.

A secret of another form that must still be a project's key (the chat's ``PRISM_CHAT_API_KEY`` set
by hand, say ``s3cret``) is turned into one by :func:`ingest_key_for`: a key of the standard form
derived from it (its id and secret are digests of it), the same on every start and every instance.
That key is what is registered and sent; the secret's strength is the key's.

The adapter is :mod:`prism.adapters.postgres_keys`, the fake ``MemoryIngestKeys`` in
:mod:`prism.adapters.memory`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from prism.identity.tokens import parse_api_key


@dataclass(frozen=True)
class IngestKey:
    """A live (not revoked) ingestion key as stored, with the slug of its project."""

    id: UUID
    prefix: str
    project: str
    secret_hash: bytes
    expires_at: datetime | None = None

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now


class IngestKeys(Protocol):
    """Where the ingestion API finds the keys of the projects (synchronous: called in a thread)."""

    def find(self, prefix: str) -> IngestKey | None:
        """The ingestion key with this prefix, not revoked, with its project's slug; None if none."""
        ...

    def touch(self, key_id: UUID, at: datetime) -> None:
        """Record a use of the key (``last_used_at``); the caller does this at most once a minute."""
        ...

    def register(self, token: str, name: str, project: str | None = None) -> IngestKey | None:
        """Store ``token`` as an ingestion key of ``project`` (default: the ``chat_project`` setting),
        or move it there if it is stored already (matched by prefix and digest). A key an admin
        revoked stays revoked. Returns the key when it is live, else None (revoked, no such
        project, or its prefix taken by another key)."""
        ...

    def ping(self) -> None: ...


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def lookup_prefix(token: str) -> str | None:
    """The prefix ``token`` is stored under as an ingestion key, or None when it cannot be one."""
    parsed = parse_api_key(token)
    if parsed is None or parsed[0] != "ingest":  # not a key, or a read token (it never writes)
        return None
    return parsed[1]


def ingest_key_for(secret: str) -> str:
    """``secret`` if it is an ingestion key already; else the ingestion key derived from it:
    ``prism_ik_`` + 12 base32 characters of SHA-256("prism-ik-id:" + secret) + ``_`` + the 43
    URL-safe base64 characters of HMAC-SHA-256(secret, "prism-ik-secret")."""
    if lookup_prefix(secret) is not None:
        return secret
    ident = base64.b32encode(hashlib.sha256(b"prism-ik-id:" + secret.encode()).digest()).decode().lower()[:12]
    key = hmac.new(secret.encode(), b"prism-ik-secret", hashlib.sha256).digest()
    return f"prism_ik_{ident}_{base64.urlsafe_b64encode(key).decode().rstrip('=')}"


def matches(token_digest: bytes, key: IngestKey) -> bool:
    return hmac.compare_digest(token_digest, key.secret_hash)
