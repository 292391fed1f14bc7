"""Which project a bearer token writes to: ``PRISM_API_KEY`` keys are the ``default`` project's; any
other token is resolved through the ``IngestKeys`` port (:mod:`prism.keys`), behind a cache.

The ``PRISM_API_KEY`` keys may be given as a function that returns them as they are now (the
ingestion app passes ``Settings.api_keys``, which follows ``PRISM_API_KEY_SECRET_ARN``'s secret
through :class:`prism.secrets.SecretCache`): a key rotated there is accepted, and a key removed
there refused, within that cache's TTL, on running instances too.

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
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from uuid import UUID

import anyio
from prism.clock import Clock, utc_now
from prism.keys import IngestKey, IngestKeys, digest, lookup_prefix, matches
from prism.records import DEFAULT_PROJECT
from prism.ttlcache import TTLCache

log = logging.getLogger(__name__)

POSITIVE_TTL = timedelta(seconds=30)
NEGATIVE_TTL = timedelta(seconds=5)
TOUCH_EVERY = timedelta(minutes=1)
MAX_ENTRIES = 10_000  # random tokens fill the negative side; past this the oldest entries go
LOOKUP_THREADS = 4


class KeyResolver:
    def __init__(
        self,
        env_keys: Sequence[str] | Callable[[], Sequence[str]],
        store: IngestKeys | None,
        *,
        clock: Clock = utc_now,
        touch_in_background: bool = True,
    ) -> None:
        fixed = () if callable(env_keys) else tuple(env_keys)
        self._env_keys: Callable[[], Sequence[str]] = env_keys if callable(env_keys) else (lambda: fixed)
        self.store = store
        self.clock = clock
        # token digest -> its live key, or None: no such live key
        self._cache: TTLCache[bytes, IngestKey | None] = TTLCache(POSITIVE_TTL, clock=clock, max_entries=MAX_ENTRIES)
        self._touched: dict[UUID, datetime] = {}
        self._lock = threading.Lock()
        self._touch_pool = ThreadPoolExecutor(1, thread_name_prefix="key-touch") if touch_in_background else None
        #: Lookups in flight at once: while the store hangs, requests with other keys keep their threads.
        self.lookups = anyio.CapacityLimiter(LOOKUP_THREADS)

    @staticmethod
    def may_be_key(token: str) -> bool:
        """Whether ``token`` has the form of a project's ingestion key (only those are looked up)."""
        return lookup_prefix(token) is not None

    @property
    def env_keys(self) -> list[bytes]:
        """The ``PRISM_API_KEY`` keys as they are now."""
        return [k.encode() for k in self._env_keys()]

    def env_project(self, token: bytes) -> str | None:
        """``default`` for a ``PRISM_API_KEY`` key (each compared in constant time), else None."""
        return DEFAULT_PROJECT if any([hmac.compare_digest(token, k) for k in self.env_keys]) else None

    def cached(self, token: str) -> tuple[bool, str | None]:
        """(whether the cache could answer, the project or None); no I/O, for the event loop."""
        entry = self._cache.fresh(digest(token))
        if entry is None:
            return False, None
        return True, self._admit(entry.value)

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
        self._cache.put(token_digest, key, POSITIVE_TTL if key is not None else NEGATIVE_TTL)
        return self._admit(key)

    def _admit(self, key: IngestKey | None) -> str | None:
        if key is None:
            return None
        now = self.clock()
        if key.expired(now):
            return None
        with self._lock:
            if len(self._touched) > MAX_ENTRIES:
                self._touched.clear()
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

    def close(self) -> None:
        if self._touch_pool is not None:
            self._touch_pool.shutdown(wait=True)
