"""Secrets read at run time from AWS Secrets Manager, cached (``PRISM_*_SECRET_ARN`` settings).

In the cloud the functions get secret ARNs, never secret values, in their environment: a value is
fetched on first use (``GetSecretValue``) and kept for ``ttl_s`` (5 min), so a rotated secret is
picked up within that time without a redeploy. A DSN this module handed out that PostgreSQL then
refuses (a password rotated by RDS before the cache expired) drops its secret from the cache at
once (:meth:`SecretCache.forget_dsn`, called by the connection pools), so the next connection
attempt reads the new password. While Secrets Manager cannot be read, the last value is served
(asked again every ``RETRY_AFTER_S``). Local runs and compose set the plain variables instead
(``PRISM_DATABASE_URL``...), and nothing here is used.

Which secrets follow a rotation on a running instance (see prism.config): the database URL (per
connection), the ingestion keys (``PRISM_API_KEY_SECRET_ARN``, per request) and the credential keys
(``PRISM_CREDS_KEY_SECRET_ARN``, per encryption or decryption). Read once at start: the OIDC client
secret (it also keys the sealed login-state cookie) and the first admin's (used only to create
that admin).

The database secret is either the whole URL (a plain string, or JSON with a ``url`` field) or the
JSON an RDS-managed secret holds: ``{"username", "password", "host", "port", "dbname"}`` (the
managed master secret has only username and password: host, port and database name then come from
``PRISM_DATABASE_HOST`` / ``_PORT`` / ``_NAME``, see prism.config).
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from prism.adapters.secretsmanager import secretsmanager_client
from prism.clock import Clock, utc_now
from prism.errors import ConfigError
from prism.ttlcache import TTLCache

DEFAULT_TTL_S = 300.0
RETRY_AFTER_S = 30.0  # Secrets Manager unreachable: the last value is served this long before asking again


def dsn_from_secret(value: str, *, defaults: Mapping[str, str | int] | None = None) -> str:
    """The PostgreSQL URL a database secret describes (see the module's docstring)."""
    text = value.strip()
    if not text.startswith(("{", "[")):
        return text
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ConfigError("the database secret is neither a URL nor JSON") from exc
    if not isinstance(data, dict):
        raise ConfigError("the database secret's JSON is not an object")
    if data.get("url"):
        return str(data["url"])
    fields = {**(defaults or {}), **{k: v for k, v in data.items() if v not in (None, "")}}
    missing = [k for k in ("username", "password", "host") if not fields.get(k)]
    if missing:
        raise ConfigError(f"the database secret lacks {', '.join(missing)}")
    user = urllib.parse.quote(str(fields["username"]), safe="")
    password = urllib.parse.quote(str(fields["password"]), safe="")
    host = str(fields["host"])
    port = int(fields.get("port") or 5432)
    dbname = urllib.parse.quote(str(fields.get("dbname") or "prism"), safe="")
    query = urllib.parse.urlencode({"sslmode": str(fields.get("sslmode") or "require")})
    return f"postgresql://{user}:{password}@{host}:{port}/{dbname}?{query}"


class SecretCache:
    """``GetSecretValue`` with a time-to-live cache, thread-safe (the chat's pool connects from
    worker threads)."""

    def __init__(
        self,
        client: Callable[[], Any] = secretsmanager_client,
        *,
        ttl_s: float = DEFAULT_TTL_S,
        clock: Clock = utc_now,
    ) -> None:
        self._make_client = client
        self._client: Any = None
        self._entries: TTLCache[str, str] = TTLCache(timedelta(seconds=ttl_s), clock=clock)
        self._retry_after = timedelta(seconds=RETRY_AFTER_S)
        # a DSN handed out -> the secret it came from, and the defaults it was built with
        self._dsns: dict[str, tuple[str, Mapping[str, str | int] | None]] = {}
        self._lock = threading.Lock()

    def get(self, secret_id: str) -> str:
        """The secret's current ``SecretString`` (cached for the TTL; while Secrets Manager cannot be
        read, the last value it gave)."""
        with self._lock:  # one GetSecretValue at a time: threads that missed together ask once
            entry = self._entries.fresh(secret_id)
            if entry is not None:
                return entry.value
            if self._client is None:
                self._client = self._make_client()
            try:
                response = self._client.get_secret_value(SecretId=secret_id)
            except Exception as exc:  # botocore's ClientError, EndpointConnectionError...
                last = self._entries.last(secret_id)
                if last is not None:  # Secrets Manager unreachable: the last value beats no value,
                    # and is kept a little while, so that every request does not wait on it again
                    return self._entries.put(secret_id, last.value, min(self._retry_after, self._entries.ttl)).value
                raise ConfigError(f"cannot read secret {secret_id}: {type(exc).__name__}") from exc
            value = response.get("SecretString")
            if value is None:
                raise ConfigError(f"secret {secret_id} has no SecretString")
            return self._entries.put(secret_id, str(value)).value

    def get_json(self, secret_id: str) -> dict[str, Any]:
        try:
            data = json.loads(self.get(secret_id))
        except ValueError as exc:
            raise ConfigError(f"secret {secret_id} is not JSON") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"secret {secret_id} is not a JSON object")
        return data

    def invalidate(self, secret_id: str) -> None:
        with self._lock:
            self._entries.pop(secret_id)

    def database_dsn(self, secret_id: str, *, defaults: Mapping[str, str | int] | None = None) -> str:
        """The PostgreSQL URL in the database secret (remembered, for :meth:`forget_dsn`)."""
        dsn = dsn_from_secret(self.get(secret_id), defaults=defaults)
        with self._lock:
            self._dsns[dsn] = (secret_id, defaults)
        return dsn

    def current_dsn(self, dsn: str) -> str:
        """``dsn`` as its secret holds it now (TTL-cached): a pool built with a DSN from a secret
        connects with the rotated password. A DSN from no secret comes back unchanged."""
        with self._lock:
            source = self._dsns.get(dsn)
        if source is None:
            return dsn
        return self.database_dsn(source[0], defaults=source[1])

    def forget_dsn(self, dsn: str) -> bool:
        """PostgreSQL refused ``dsn``'s credentials: if it came from a secret, read that secret again
        on the next use. Returns whether it did."""
        with self._lock:
            source = self._dsns.get(dsn)
        if source is None:
            return False
        self.invalidate(source[0])
        return True


_default: SecretCache | None = None
_default_lock = threading.Lock()


def default_cache() -> SecretCache:
    """The process's cache (one per Lambda instance, built on first use)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = SecretCache()
        return _default


def set_default_cache(cache: SecretCache | None) -> None:
    """Replace the process's cache (tests; ``None``: build a new one on next use)."""
    global _default
    with _default_lock:
        _default = cache


def is_auth_failure(exc: BaseException) -> bool:
    """Whether a connection error is PostgreSQL (or RDS Proxy) refusing the credentials."""
    if getattr(exc, "sqlstate", None) in ("28P01", "28000"):
        return True
    text = str(exc).lower()  # libpq's connection errors carry no SQLSTATE: their message it is
    return "authentication failed" in text or ('role "' in text and "does not exist" in text)
