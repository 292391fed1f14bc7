"""Settings: constructor arguments first, then ``PRISM_*`` environment variables, then defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from typing import Any

#: Base URL of the ingestion API (the SDK POSTs to ``{url}/v1/events``). Unset: the SDK is a no-op.
ENV_INGEST_URL = "PRISM_INGEST_URL"
#: API key, sent as ``Authorization: Bearer <key>``. A comma-separated list (``new,old``, as the
#: ingestion API accepts during a key rotation) sends only its first key.
ENV_API_KEY = "PRISM_API_KEY"
#: Directory of the durable on-disk spool. Unset: no spool.
ENV_SPOOL_DIR = "PRISM_SPOOL_DIR"
#: Upper bound of the spool in bytes (oldest files trimmed first). Default 256 MiB.
ENV_SPOOL_MAX_BYTES = "PRISM_SPOOL_MAX_BYTES"
#: Maximum number of events waiting in memory. Default 10000.
ENV_MAX_QUEUE = "PRISM_MAX_QUEUE"
#: With a spool: most events logged and not yet written to it; beyond that ``log`` writes the event
#: to the spool itself. What a killed process can lose. Default 100.
ENV_MAX_UNSPOOLED = "PRISM_MAX_UNSPOOLED"
#: Events per request (1..500). Default 250.
ENV_BATCH_SIZE = "PRISM_BATCH_SIZE"
#: Seconds between two sends of a partial batch, without a spool (with one: at once). Default 0.5.
ENV_FLUSH_INTERVAL = "PRISM_FLUSH_INTERVAL"
#: HTTP timeout in seconds for one request to the ingestion API. Default 5.
ENV_TIMEOUT = "PRISM_TIMEOUT"
#: Cap of the exponential backoff between retries, in seconds. Default 30.
ENV_MAX_BACKOFF = "PRISM_MAX_BACKOFF"
#: ``false``/``0`` turns the SDK into a no-op even with an ingestion URL. Default true.
ENV_ENABLED = "PRISM_ENABLED"
#: ``false``/``0``: do not log prompts and outputs (messages, content, tool arguments). Default true.
ENV_CAPTURE_CONTENT = "PRISM_CAPTURE_CONTENT"
#: Seconds ``lambda_handler`` waits at the end of each invocation for the flush. Default 5.
ENV_LAMBDA_FLUSH_TIMEOUT = "PRISM_LAMBDA_FLUSH_TIMEOUT"

ENV_VARS = (
    ENV_INGEST_URL,
    ENV_API_KEY,
    ENV_SPOOL_DIR,
    ENV_SPOOL_MAX_BYTES,
    ENV_MAX_QUEUE,
    ENV_MAX_UNSPOOLED,
    ENV_BATCH_SIZE,
    ENV_FLUSH_INTERVAL,
    ENV_TIMEOUT,
    ENV_MAX_BACKOFF,
    ENV_ENABLED,
    ENV_CAPTURE_CONTENT,
    ENV_LAMBDA_FLUSH_TIMEOUT,
)

#: Hard limits of ``POST /v1/events`` (the server rejects more): we stay below both.
MAX_EVENTS_PER_REQUEST = 500
MAX_REQUEST_BYTES = 4 * 1024 * 1024  # uncompressed; the server's limit is 5 MiB


def first_key(value: str) -> str:
    """The key to send from a ``PRISM_API_KEY`` value: the first of a comma-separated list.

    The ingestion API accepts every key of its list (``new,old`` while a key is rotated, the new one
    first); a bearer token holds no comma, so the SDK sends one key, the newest.
    """
    return next((k.strip() for k in value.split(",") if k.strip()), "")


class ConfigError(ValueError):
    """A setting has a value the SDK cannot use."""


def _truthy(value: str) -> bool:
    return value.strip().lower() not in {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class Settings:
    """Resolved configuration of a :class:`prism_sdk.Prism` client."""

    ingest_url: str | None = None
    api_key: str | None = None
    spool_dir: str | None = None
    spool_max_bytes: int = 256 * 1024 * 1024
    max_queue: int = 10_000
    max_unspooled: int = 100
    batch_size: int = 250
    flush_interval: float = 0.5
    timeout: float = 5.0
    max_backoff: float = 30.0
    enabled: bool = True
    capture_content: bool = True
    lambda_flush_timeout: float = 5.0

    @property
    def active(self) -> bool:
        return self.enabled and bool(self.ingest_url)

    @property
    def events_url(self) -> str:
        assert self.ingest_url
        base = self.ingest_url.rstrip("/")
        return base if base.endswith("/v1/events") else base + "/v1/events"

    @classmethod
    def resolve(cls, environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
        """Arguments that are not None win over ``PRISM_*`` variables, which win over defaults."""
        env = dict(os.environ) if environ is None else environ
        known = {f.name for f in fields(cls)}
        unknown = set(overrides) - known
        if unknown:
            raise TypeError(f"unknown Prism setting(s): {', '.join(sorted(unknown))}")
        values: dict[str, Any] = {}
        for f in fields(cls):
            var = "PRISM_" + f.name.upper()
            if overrides.get(f.name) is not None:
                values[f.name] = overrides[f.name]
            elif env.get(var, "") != "":
                raw = env[var]
                try:
                    if f.type in ("int", int):
                        values[f.name] = int(raw)
                    elif f.type in ("float", float):
                        values[f.name] = float(raw)
                    elif f.type in ("bool", bool):
                        values[f.name] = _truthy(raw)
                    else:
                        values[f.name] = raw
                except ValueError as exc:
                    raise ConfigError(f"{var}={raw!r} is not a valid {f.type}") from exc
        if values.get("api_key"):
            values["api_key"] = first_key(values["api_key"])
        s = replace(cls(), **values)
        if s.enabled:
            s._check()
        return s

    def _check(self) -> None:
        if not 1 <= self.batch_size <= MAX_EVENTS_PER_REQUEST:
            raise ConfigError(f"batch_size must be 1..{MAX_EVENTS_PER_REQUEST}, got {self.batch_size}")
        if self.max_queue < 1 or self.max_unspooled < 1:
            raise ConfigError("max_queue and max_unspooled must be >= 1")
        if self.flush_interval <= 0 or self.timeout <= 0 or self.max_backoff <= 0:
            raise ConfigError("flush_interval, timeout and max_backoff must be > 0")
        if self.ingest_url and not self.ingest_url.startswith(("http://", "https://")):
            raise ConfigError(f"ingest_url must start with http:// or https://, got {self.ingest_url!r}")
