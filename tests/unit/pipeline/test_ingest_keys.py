"""The key cache of the ingestion API (ingestion.keys) on the fake key store, and the project on the bus
record (prism.records): lifetimes and expiry on a TestClock, so nothing here waits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from ingestion.keys import MAX_ENTRIES, KeyResolver
from prism.adapters.memory import MemoryIngestKeys
from prism.errors import StoreError
from prism.identity.tokens import new_api_key
from prism.keys import digest, ingest_key_for, lookup_prefix
from prism.records import BadRecordError, decode_record, encode_record, to_row

from tests.support.clock import TestClock

T0 = datetime(2030, 1, 7, 9, tzinfo=UTC)


def resolver(store: MemoryIngestKeys, clock: TestClock) -> KeyResolver:
    return KeyResolver(["env-key"], store, clock=clock, touch_in_background=False)


def test_env_keys_are_the_default_project_and_never_reach_the_store() -> None:
    store = MemoryIngestKeys()
    keys = resolver(store, TestClock(T0))
    assert keys.env_project(b"env-key") == "default"
    assert keys.env_project(b"env-key2") is None
    assert store.finds == 0


def test_a_found_key_is_cached_30_s_and_an_unknown_one_5_s() -> None:
    clock, store = TestClock(T0), MemoryIngestKeys()
    keys = resolver(store, clock)
    token = new_api_key("ingest").token
    store.add(token, "a")
    assert keys.cached(token) == (False, None)
    assert keys.resolve(token) == "a" and store.finds == 1
    clock.advance(seconds=29.9)
    assert keys.cached(token) == (True, "a") and keys.resolve(token) == "a" and store.finds == 1
    clock.advance(seconds=0.2)
    assert keys.cached(token) == (False, None)
    assert keys.resolve(token) == "a" and store.finds == 2

    unknown = new_api_key("ingest").token
    assert keys.resolve(unknown) is None and store.finds == 3
    clock.advance(seconds=4.9)
    assert keys.cached(unknown) == (True, None) and store.finds == 3
    clock.advance(seconds=0.2)
    assert keys.cached(unknown) == (False, None)


def test_the_cache_holds_digests_never_tokens() -> None:
    store = MemoryIngestKeys()
    keys = resolver(store, TestClock(T0))
    token = new_api_key("ingest").token
    store.add(token, "a")
    keys.resolve(token)
    assert list(keys._cache) == [digest(token)]
    assert token not in repr(keys._cache)


def test_a_wrong_secret_with_a_known_prefix_is_refused() -> None:
    store = MemoryIngestKeys()
    keys = resolver(store, TestClock(T0))
    token = new_api_key("ingest").token
    store.add(token, "a")
    forged = token[:22] + ("B" if token[22] != "B" else "C") + token[23:]
    assert lookup_prefix(forged) == lookup_prefix(token)
    assert keys.resolve(forged) is None


def test_expiry_is_checked_on_every_use_even_cached() -> None:
    clock, store = TestClock(T0), MemoryIngestKeys()
    keys = resolver(store, clock)
    token = new_api_key("ingest").token
    store.add(token, "a", expires_at=T0 + timedelta(seconds=10))
    assert keys.resolve(token) == "a"
    clock.advance(seconds=10)
    assert keys.cached(token) == (True, None)


def test_last_used_is_written_at_most_once_a_minute_per_key() -> None:
    clock, store = TestClock(T0), MemoryIngestKeys()
    keys = resolver(store, clock)
    one, two = new_api_key("ingest").token, new_api_key("ingest").token
    first, second = store.add(one, "a"), store.add(two, "a")
    for _ in range(5):
        keys.resolve(one)
        keys.resolve(two)
        clock.advance(seconds=10)
    assert store.touched == [(first.id, T0), (second.id, T0)]
    clock.advance(seconds=10)  # 60 s after the first use
    keys.resolve(one)
    assert store.touched[-1] == (first.id, T0 + timedelta(seconds=60))


def test_a_failing_touch_refuses_nothing_and_a_failing_lookup_is_no_refusal() -> None:
    clock, store = TestClock(T0), MemoryIngestKeys()
    keys = resolver(store, clock)
    token = new_api_key("ingest").token
    store.add(token, "a")
    assert keys.resolve(token) == "a"  # touched at T0
    clock.advance(seconds=40)
    assert keys.resolve(token) == "a"  # found again, cached until T0 + 70 s
    store.down = True
    clock.advance(seconds=21)  # a touch is due: it fails, the key still works
    assert keys.cached(token) == (True, "a")
    assert store.touched == [(store.keys[token[:21]].id, T0)]
    clock.advance(seconds=10)  # out of the cache, the store down: an error (503), not "unknown" (401)
    with pytest.raises(StoreError):
        keys.resolve(token)
    store.down = False
    assert keys.resolve(token) == "a"


def test_the_cache_is_bounded() -> None:
    keys = resolver(MemoryIngestKeys(), TestClock(T0))
    for _ in range(MAX_ENTRIES + 10):
        keys.resolve(new_api_key("ingest").token)
    assert len(keys._cache) <= MAX_ENTRIES


def test_only_ingestion_keys_can_be_looked_up() -> None:
    assert lookup_prefix(new_api_key("read").token) is None
    assert lookup_prefix("not-a-key") is None and not KeyResolver.may_be_key("prism_ik_short")
    token = new_api_key("ingest").token
    assert lookup_prefix(token) == token[:21] and KeyResolver.may_be_key(token)


def test_a_hand_set_secret_becomes_a_standard_key_the_same_every_time() -> None:
    derived = ingest_key_for("s3cret")
    assert derived == ingest_key_for("s3cret") != ingest_key_for("s3cret2")
    assert lookup_prefix(derived) is not None and "s3cret" not in derived
    standard = new_api_key("ingest").token
    assert ingest_key_for(standard) == standard


def test_register_moves_a_key_and_keeps_a_revocation() -> None:
    store = MemoryIngestKeys(chat_project="chat")
    token = ingest_key_for("chat-secret")
    key = store.register(token, "chat")
    assert key is not None and key.project == "chat"
    moved = store.register(token, "chat", "support")
    assert moved is not None and moved.project == "support" and moved.id == key.id
    store.revoke(token)
    assert store.register(token, "chat") is None
    with pytest.raises(ValueError, match="read token"):
        store.register(new_api_key("read").token, "chat")


# --- the project on the bus record -------------------------------------------------------------


def test_the_record_carries_the_project_onto_the_row() -> None:
    event = {
        "id": "0190a1b2-0000-7000-8000-000000000001",
        "ts_start": "2030-01-07T09:00:00+00:00",
        "ts_end": "2030-01-07T09:00:01+00:00",
        "provider": "openai",
        "model": "m",
        "status": "ok",
    }
    record = decode_record(encode_record(event, T0, {}, None, project="support-bot"))
    assert record["project"] == "support-bot"
    assert to_row(record, event).project == "support-bot"


def test_a_record_from_before_projects_is_the_default_project() -> None:
    event = {"id": "x", "ts_start": "2030-01-07T09:00:00+00:00", "ts_end": "2030-01-07T09:00:01+00:00"}
    old = orjson.dumps(
        {"v": 1, "created_at": T0.isoformat(), "redactions": {}, "raw_payload_uri": None, "event": event}
    )
    record = decode_record(old)
    assert record["project"] == "default"
    assert to_row(record, {**event, "provider": "p", "model": "m", "status": "ok"}).project == "default"


@pytest.mark.parametrize("project", [None, 3, "", ["a"]])
def test_a_record_with_a_bad_project_is_poison(project: object) -> None:
    data = orjson.dumps({"v": 1, "created_at": T0.isoformat(), "project": project, "event": {"id": "x"}})
    with pytest.raises(BadRecordError, match="project"):
        decode_record(data)
