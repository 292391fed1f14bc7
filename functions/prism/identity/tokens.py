"""Opaque random tokens (``secrets``), kept only as SHA-256 digests.

- Session id: ``secrets.token_urlsafe(32)``, in the ``prism_session`` cookie. Its CSRF token is
  derived from it (a keyed digest: knowing one reveals nothing of the session id), so the server can
  give it again to the page that holds the cookie without storing it.
- API keys: ``prism_ik_<id12>_<secret43>`` (ingestion) and ``prism_rt_<id12>_<secret43>`` (read
  token); ``prism_ik_<id12>`` is the visible, unique prefix the key is looked up by; the whole token's
  digest is compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from typing import NamedTuple

from prism.identity.model import KeyKind

KIND_TAGS: dict[KeyKind, str] = {"ingest": "ik", "read": "rt"}
_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"  # base32, lower case: no ``_`` inside the id
_KEY = re.compile(r"^(prism_(ik|rt)_[a-z2-7]{12})_([A-Za-z0-9_-]{43})$")


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def new_session_token() -> str:
    return secrets.token_urlsafe(32)


def csrf_for(session_token: str) -> str:
    return hmac.new(session_token.encode(), b"prism-csrf", hashlib.sha256).hexdigest()


def new_invite_token() -> str:
    return secrets.token_urlsafe(32)


def new_temporary_password() -> str:
    return secrets.token_urlsafe(12)  # 16 characters, 96 bits


class NewKey(NamedTuple):
    token: str  # shown once
    prefix: str
    secret_hash: bytes


def new_api_key(kind: KeyKind) -> NewKey:
    ident = "".join(secrets.choice(_ALPHABET) for _ in range(12))
    prefix = f"prism_{KIND_TAGS[kind]}_{ident}"
    token = f"{prefix}_{secrets.token_urlsafe(32)}"  # 43 characters
    return NewKey(token, prefix, digest(token))


def parse_api_key(token: str) -> tuple[KeyKind, str] | None:
    """(kind, prefix) of a well-formed API key, else None."""
    m = _KEY.match(token)
    if m is None:
        return None
    return ("ingest" if m[2] == "ik" else "read"), m[1]


def matches(token: str, secret_hash: bytes) -> bool:
    return hmac.compare_digest(digest(token), secret_hash)
