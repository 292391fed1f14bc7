"""Which project a bearer token writes to: ``PRISM_API_KEY`` keys are the ``default`` project's; any
other token is resolved through the ``IngestKeys`` port (:mod:`prism.keys`), behind a cache.

The cache keeps the write path off the database: a key found is trusted for ``POSITIVE_TTL``
(30 s: a revoked key stops within that), a token not found is refused for ``NEGATIVE_TTL`` (5 s:
a key just created works within that) without asking again. Entries are keyed by the token's
SHA-256, never the token. An expiry is checked on every use, cached or not. ``last_used_at`` is
written at most once per ``TOUCH_EVERY`` per key, in a background thread (never on the request's
path; a failure is logged and forgotten).
"""

from __future__ import annotations

import hmac
import logging
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

import anyio
from prism.clock import Clock, utc_now
from prism.keys import IngestKey, IngestKeys, digest, lookup_prefix, matches
from prism.records import DEFAULT_PROJECT

log = logging.getLogger(__name__)

POSITIVE_TTL = timedelta(seconds=30)
NEGATIVE_TTL = timedelta(seconds=5)
TOUCH_EVERY = timedelta(minutes=1)
MAX_ENTRIES = 10_000  # random tokens fill the negative side; past this the oldest entries go
LOOKUP_THREADS = 4


@dataclass(frozen=True)
class _Entry:
    key: IngestKey | None  # None: no such live key
    until: datetime


class KeyResolver:
    def __init__(
        self,
        env_keys: Sequence[str],
        store: IngestKeys | None,
        *,
        clock: Clock = utc_now,
        touch_in_background: bool = True,
    ) -> None:
        self.env_keys = [k.encode() for k in env_keys]
        self.store = store
        self.clock = clock
        self._cache: dict[bytes, _Entry] = {}
        self._touched: dict[UUID, datetime] = {}
        self._lock = threading.Lock()
        self._touch_pool = ThreadPoolExecutor(1, thread_name_prefix="key-touch") if touch_in_background else None
        #: Lookups in flight at once: while the store hangs, requests with other keys keep their threads.
        self.lookups = anyio.CapacityLimiter(LOOKUP_THREADS)

    @staticmethod
    def may_be_key(token: str) -> bool:
        """Whether ``token`` has the form of a project's ingestion key (only those are looked up)."""
        return lookup_prefix(token) is not None

    def env_project(self, token: bytes) -> str | None:
        """``default`` for a ``PRISM_API_KEY`` key (each compared in constant time), else None."""
        return DEFAULT_PROJECT if any(hmac.compare_digest(token, k) for k in self.env_keys) else None

    def cached(self, token: str) -> tuple[bool, str | None]:
        """(whether the cache could answer, the project or None); no I/O, for the event loop."""
        token_digest = digest(token)
        with self._lock:
            entry = self._cache.get(token_digest)
        if entry is None or entry.until <= self.clock():
            return False, None
        return True, self._admit(entry.key)

    def resolve(self, token: str) -> str | None:
        """The project of ``token``, or None when it is no live ingestion key. Asks the store on a
        cache miss (blocking: call it in a worker thread); StoreError when the store is down."""
        hit, project = self.cached(token)
        if hit:
            return project
        token_digest = digest(token)
        prefix = lookup_prefix(token)
        key = self.store.find(prefix) if prefix is not None and self.store is not None else None
        if key is not None and not matches(token_digest, key):
            key = None
        now = self.clock()
        with self._lock:
            if len(self._cache) >= MAX_ENTRIES:
                self._evict(now)
            self._cache[token_digest] = _Entry(key, now + (POSITIVE_TTL if key is not None else NEGATIVE_TTL))
        return self._admit(key)

    def _admit(self, key: IngestKey | None) -> str | None:
        if key is None:
            return None
        now = self.clock()
        if key.expired(now):
            return None
        with self._lock:
            last = self._touched.get(key.id)
            due = last is None or now - last >= TOUCH_EVERY
            if due:
                self._touched[key.id] = now
        if due:
            self._touch(key.id, now)
        return key.project

    def _touch(self, key_id: UUID, at: datetime) -> None:
        if self.store is None:
            return
        if self._touch_pool is None:
            self._touch_now(key_id, at)
        else:
            self._touch_pool.submit(self._touch_now, key_id, at)

    def _touch_now(self, key_id: UUID, at: datetime) -> None:
        assert self.store is not None
        try:
            self.store.touch(key_id, at)
        except Exception as exc:  # a use not recorded is no reason to refuse (or fail) anything
            log.warning("could not record the use of ingestion key %s: %s", key_id, exc)

    def _evict(self, now: datetime) -> None:
        for token_digest in [d for d, e in self._cache.items() if e.until <= now]:
            del self._cache[token_digest]
        excess = len(self._cache) - MAX_ENTRIES // 2
        if excess > 0:
            for token_digest in list(self._cache)[:excess]:
                del self._cache[token_digest]
        if len(self._touched) > MAX_ENTRIES:
            self._touched.clear()

    def close(self) -> None:
        if self._touch_pool is not None:
            self._touch_pool.shutdown(wait=True)
