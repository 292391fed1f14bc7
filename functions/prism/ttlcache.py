"""A time-to-live cache on an injectable clock: the one behind :class:`prism.secrets.SecretCache`
(secret values, 5 min) and :class:`ingestion.keys.KeyResolver` (ingestion keys, 30 s / 5 s).

An entry is fresh until its expiry (``now < expires``); an expired entry is kept until it is
replaced, dropped or evicted, so a caller whose source is down can still have the last value
(:meth:`TTLCache.last`). With ``max_entries``, a put into a full cache first drops the expired
entries, then the oldest, down to half the bound. Thread-safe.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from prism.clock import Clock, utc_now

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass(frozen=True)
class Entry(Generic[V]):
    value: V
    stored_at: datetime
    expires: datetime

    def fresh(self, now: datetime) -> bool:
        return now < self.expires


class TTLCache(Generic[K, V]):
    def __init__(self, ttl: timedelta, *, clock: Clock = utc_now, max_entries: int | None = None) -> None:
        self.ttl = ttl
        self.clock = clock
        self.max_entries = max_entries
        self._entries: dict[K, Entry[V]] = {}
        self._lock = threading.Lock()

    def fresh(self, key: K) -> Entry[V] | None:
        """The entry for ``key`` if it has not expired (an entry's value may itself be ``None``)."""
        now = self.clock()
        with self._lock:
            entry = self._entries.get(key)
        return entry if entry is not None and entry.fresh(now) else None

    def last(self, key: K) -> Entry[V] | None:
        """The entry for ``key``, expired or not."""
        with self._lock:
            return self._entries.get(key)

    def put(self, key: K, value: V, ttl: timedelta | None = None) -> Entry[V]:
        """Store ``value`` for ``ttl`` (default: the cache's) from now."""
        now = self.clock()
        entry = Entry(value, now, now + (self.ttl if ttl is None else ttl))
        with self._lock:
            if self.max_entries is not None and key not in self._entries and len(self._entries) >= self.max_entries:
                self._evict(now, self.max_entries)
            self._entries[key] = entry
        return entry

    def pop(self, key: K) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def _evict(self, now: datetime, bound: int) -> None:
        for key in [k for k, e in self._entries.items() if not e.fresh(now)]:
            del self._entries[key]
        excess = len(self._entries) - bound // 2
        if excess > 0:
            for key in list(self._entries)[:excess]:  # insertion order: the oldest first
                del self._entries[key]

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[K]:
        with self._lock:
            return iter(list(self._entries))

    def __repr__(self) -> str:  # the keys may be digests of secrets, the values secrets: neither is shown
        return f"<TTLCache {len(self._entries)} entries, ttl {self.ttl}>"
