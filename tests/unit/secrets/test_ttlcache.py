"""prism.ttlcache, the one TTL cache behind the secrets (prism.secrets) and the ingestion key cache
(ingestion.keys), on a TestClock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from prism.ttlcache import TTLCache

from tests.support.clock import TestClock

pytestmark = pytest.mark.unit

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def test_an_entry_is_fresh_until_its_ttl_and_then_only_the_last_value() -> None:
    clock = TestClock(T0)
    cache: TTLCache[str, str] = TTLCache(timedelta(seconds=10), clock=clock)
    cache.put("a", "one")
    clock.advance(seconds=9.9)
    entry = cache.fresh("a")
    assert entry is not None and entry.value == "one"
    clock.advance(seconds=0.1)
    assert cache.fresh("a") is None
    last = cache.last("a")
    assert last is not None and (last.value, last.stored_at) == ("one", T0)
    assert cache.fresh("b") is None and cache.last("b") is None


def test_a_put_may_have_its_own_ttl_and_a_none_value_is_a_hit() -> None:
    clock = TestClock(T0)
    cache: TTLCache[str, str | None] = TTLCache(timedelta(seconds=30), clock=clock)
    cache.put("absent", None, timedelta(seconds=5))
    entry = cache.fresh("absent")
    assert entry is not None and entry.value is None
    clock.advance(seconds=5)
    assert cache.fresh("absent") is None


def test_pop_and_clear_drop_entries() -> None:
    cache: TTLCache[str, int] = TTLCache(timedelta(seconds=30), clock=TestClock(T0))
    cache.put("a", 1)
    cache.put("b", 2)
    cache.pop("a")
    cache.pop("nothing")
    assert list(cache) == ["b"]
    cache.clear()
    assert len(cache) == 0


def test_a_full_cache_drops_the_expired_then_the_oldest_down_to_half() -> None:
    clock = TestClock(T0)
    cache: TTLCache[int, int] = TTLCache(timedelta(seconds=30), clock=clock, max_entries=10)
    for i in range(4):
        cache.put(i, i, timedelta(seconds=1))  # these expire
    clock.advance(seconds=2)
    for i in range(4, 10):
        cache.put(i, i)
    assert len(cache) == 10
    cache.put(10, 10)  # full: the 4 expired go, then the oldest live ones down to half, then the new one
    assert list(cache) == [5, 6, 7, 8, 9, 10]
    cache.put(10, 11)  # a replacement never evicts
    assert len(cache) == 6


def test_its_repr_shows_neither_keys_nor_values() -> None:
    cache: TTLCache[str, str] = TTLCache(timedelta(seconds=30), clock=TestClock(T0))
    cache.put("token-digest", "the-secret")
    assert "the-secret" not in repr(cache) and "token-digest" not in repr(cache)
