"""The ingestion service and the writer core with in-memory fakes: GIVEN a batch WHEN ingested
and written THEN what lands is validated, redacted, offloaded when asked, and idempotent."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from prism.adapters.memory import MemoryBus, MemoryLogStore, MemoryRawPayloadStore
from prism.errors import BusError
from prism.ingest import Ingestor
from prism.ports import BusMessage
from prism.redact import RegexRedactor
from prism.write import RecordWriter

EVENT = json.loads((Path(__file__).resolve().parents[2] / "events" / "chat_turn_with_pii.json").read_text())
NOW = datetime(2026, 11, 27, 7, 0, 5, tzinfo=UTC)


def event(**changes: Any) -> dict[str, Any]:
    return {**copy.deepcopy(EVENT), "id": str(uuid.uuid4()), **changes}


def make(keep_raw: bool = False, max_payload: int = 256 * 1024) -> tuple[Ingestor, MemoryBus, MemoryRawPayloadStore]:
    bus, raw = MemoryBus(), MemoryRawPayloadStore()
    return (
        Ingestor(bus, RegexRedactor(), raw, keep_raw=keep_raw, max_payload_bytes=max_payload, clock=lambda: NOW),
        bus,
        raw,
    )


def messages(bus: MemoryBus) -> list[BusMessage]:
    return [BusMessage(str(i), data) for i, (_, data) in enumerate(bus.messages)]


def test_valid_events_are_redacted_before_the_bus() -> None:
    ingestor, bus, raw = make()
    result = ingestor.ingest([event(), event()])
    assert result.accepted == 2 and result.rejected == []
    wire = b"".join(d for _, d in bus.messages)
    for secret in (b"jane.doe@example.com", b"415-555-0199", b"123-45-6789", b"4111 1111 1111 1111", b"sk-proj-"):
        assert secret not in wire
    record = orjson.loads(bus.messages[0][1])
    assert record["created_at"].startswith("2026-11-27T07:00:05")
    assert record["redactions"]["EMAIL"] == 4
    assert raw.objects == {}


def test_each_event_is_judged_alone() -> None:
    ingestor, bus, _ = make()
    bad = event(ts_end="2026-11-27T06:00:00Z")
    result = ingestor.ingest([event(), bad, "nope"])
    assert result.accepted == 1
    assert [(r.index, r.id) for r in result.rejected] == [(1, bad["id"]), (2, None)]
    assert "ts_end is before ts_start" in result.rejected[0].errors[0]
    assert len(bus.messages) == 1


def test_keep_raw_offloads_the_redacted_payload() -> None:
    ingestor, bus, raw = make(keep_raw=True)
    ingestor.ingest([event()])
    record = orjson.loads(bus.messages[0][1])
    assert record["raw_payload_uri"].startswith("mem://2026/11/27/07/")
    assert "request" not in record["event"] and "response" not in record["event"]
    stored = raw.objects[record["raw_payload_uri"]]
    assert b"jane.doe@example.com" not in stored and b"[EMAIL]" in stored


def test_an_event_too_big_for_the_bus_travels_by_reference() -> None:
    ingestor, bus, raw = make(max_payload=2048)
    huge = event(metadata={"blob": "x" * 5000})
    ingestor.ingest([huge])
    record = orjson.loads(bus.messages[0][1])
    assert record["event"] is None and record["raw_payload_uri"] in raw.objects
    assert len(bus.messages[0][1]) < 1024

    store = MemoryLogStore()
    outcome = RecordWriter(store, raw).handle(messages(bus))
    assert outcome.written == 1
    row = store.rows[huge["id"]]
    assert row.raw_payload_uri == record["raw_payload_uri"] and row.raw_payload_jsonb is None
    assert row.model == "gpt-4o-mini" and row.prompt_tokens == 42


def test_bus_down_accepts_nothing() -> None:
    ingestor, bus, _ = make()
    bus.down = True
    with pytest.raises(BusError):
        ingestor.ingest([event()])


def test_a_partly_failed_publish_refuses_the_batch() -> None:
    from prism.ports import PublishResult

    class HalfBus(MemoryBus):
        def publish(self, messages):  # type: ignore[no-untyped-def]
            return PublishResult(published=1, failed=[1])

    ingestor = Ingestor(HalfBus(), RegexRedactor(), MemoryRawPayloadStore())
    with pytest.raises(BusError, match="1 of 2 events could not be published"):
        ingestor.ingest([event(), event()])


def test_writer_is_idempotent_and_isolates_poison() -> None:
    ingestor, bus, raw = make()
    ingestor.ingest([event(), event(model="poison"), event()])
    store = MemoryLogStore(poison={"poison"})
    writer = RecordWriter(store, raw)
    batch = [*messages(bus), BusMessage("junk", b"not json")]
    outcome = writer.handle(batch)
    assert outcome.written == 2
    assert set(outcome.failed) == {"1", "junk"}
    again = writer.handle([m for m in batch if m.id not in outcome.failed])
    assert again.written == 0 and again.duplicates == 2


def test_row_fields() -> None:
    ingestor, bus, raw = make()
    ingestor.ingest([event()])
    store = MemoryLogStore()
    RecordWriter(store, raw).handle(messages(bus))
    row = next(iter(store.rows.values()))
    assert row.latency_ms == pytest.approx(1500.0) and row.ttft_ms == pytest.approx(250.0)
    assert row.response_model == "gpt-4o-mini-2024-07-18" and row.finish_reason == "stop"
    assert row.tags == ["prod", "support"] and row.conversation_id == "c-1"
    assert json.loads(row.redactions)["EMAIL"] == 4
    assert row.tools[0].name == "lookup_customer" and row.tools[0].latency_ms == pytest.approx(100.0)
    assert json.loads(row.raw_payload_jsonb or "{}")["response"]["content"].startswith("Noted")


def test_a_raw_payload_that_cannot_be_read_fails_its_record_only() -> None:
    from prism.errors import StoreError
    from prism.records import encode_record

    class PickyStore(MemoryRawPayloadStore):
        def get(self, uri: str) -> bytes:
            if "missing-bucket" in uri:
                raise StoreError(f"S3 get {uri}: An error occurred (NoSuchBucket)")
            if "denied" in uri:
                raise StoreError(f"S3 get {uri}: An error occurred (AccessDenied)")
            if "bug" in uri:
                raise RuntimeError("unexpected")
            return super().get(uri)

    ingestor, bus, _ = make(max_payload=2048)
    raw = PickyStore()
    ingestor.raw_store = raw
    ingestor.ingest([event(metadata={"blob": "x" * 5000}), event()])  # the first travels by reference
    bad = {
        f"bad-{name}": encode_record(None, NOW, {}, f"s3://{name}/raw/x.json")
        for name in ("missing-bucket", "denied", "bug")
    }
    batch = [*messages(bus), *(BusMessage(mid, data) for mid, data in bad.items()), BusMessage("odd", b'{"v":1}')]
    store = MemoryLogStore()
    outcome = RecordWriter(store, raw).handle(batch)
    assert outcome.written == 2 and len(store.rows) == 2
    assert set(outcome.failed) == {*bad, "odd"}
    assert "NoSuchBucket" in outcome.failed["bad-missing-bucket"]
    assert "AccessDenied" in outcome.failed["bad-denied"]
    assert outcome.failed["bad-bug"] == "RuntimeError: unexpected"


def test_an_event_that_breaks_the_row_builder_fails_alone() -> None:
    ingestor, bus, raw = make()
    ingestor.ingest([event(), event()])
    from prism.records import encode_record

    broken = BusMessage("broken", encode_record(event(schema_version="abc"), NOW, {}, None))
    outcome = RecordWriter(MemoryLogStore(), raw).handle([broken, *messages(bus)])
    assert outcome.written == 2 and list(outcome.failed) == ["broken"]
    assert "schema_version is not an integer" in outcome.failed["broken"]


def test_an_error_nobody_foresaw_in_the_store_is_isolated_like_bad_data() -> None:
    class Fussy(MemoryLogStore):
        def write(self, rows):  # type: ignore[no-untyped-def]
            if any(r.model == "boom" for r in rows):
                raise RuntimeError("driver bug")
            return super().write(rows)

    ingestor, bus, raw = make()
    ingestor.ingest([event(), event(model="boom"), event(), event()])
    store = Fussy()
    outcome = RecordWriter(store, raw).handle(messages(bus))
    assert outcome.written == 3 and outcome.failed == {"1": "RuntimeError: driver bug"}


def test_an_unavailable_log_store_still_fails_the_whole_batch() -> None:
    from prism.errors import StoreError

    class Down(MemoryLogStore):
        def write(self, rows):  # type: ignore[no-untyped-def]
            raise StoreError("PostgreSQL: connection refused")

    ingestor, bus, raw = make()
    ingestor.ingest([event(), event()])
    with pytest.raises(StoreError):
        RecordWriter(Down(), raw).handle(messages(bus))
