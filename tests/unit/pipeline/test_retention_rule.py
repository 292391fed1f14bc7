"""The writer's one rule for rows older than the store's retention (issue 13 §3): counted as
expired and acknowledged, never stored, never failed; rows without a zone are left to the store."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prism.adapters.memory import MemoryLogStore
from prism.ports import BusMessage
from prism.records import encode_record
from prism.write import RecordWriter

EVENT = json.loads((Path(__file__).resolve().parents[2] / "events" / "chat_turn_with_pii.json").read_text())
SINCE = datetime(2027, 1, 1, tzinfo=UTC)


def message(created_at: datetime) -> BusMessage:
    return BusMessage(uuid.uuid4().hex, encode_record({**EVENT, "id": str(uuid.uuid4())}, created_at, {}, None))


def test_rows_older_than_retention_are_counted_not_stored_not_failed() -> None:
    store = MemoryLogStore(retained_from=SINCE)
    batch = [message(SINCE - timedelta(days=3)), message(SINCE - timedelta(microseconds=1)), message(SINCE)]
    outcome = RecordWriter(store).handle(batch)
    assert (outcome.written, outcome.duplicates, outcome.expired, outcome.failed) == (1, 0, 2, {})
    assert [row.created_at for row in store.rows.values()] == [SINCE]


def test_a_batch_of_only_expired_rows_never_reaches_the_store() -> None:
    store = MemoryLogStore(retained_from=SINCE)
    outcome = RecordWriter(store).handle([message(SINCE - timedelta(days=40)) for _ in range(3)])
    assert (outcome.written, outcome.expired, outcome.failed, store.calls) == (0, 3, {}, 0)


def test_a_store_without_retention_keeps_everything() -> None:
    store = MemoryLogStore()
    outcome = RecordWriter(store).handle([message(datetime(2001, 1, 1, tzinfo=UTC))])
    assert (outcome.written, outcome.expired) == (1, 0)
