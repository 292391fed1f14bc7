"""The Kinesis handler's failure policy with the in-memory parts: a record that can never be written
is dead-lettered by the handler (its data and why) and not reported as a batch item failure; the
database down fails the batch and dead-letters nothing; ``writer.replay`` writes a letter once the
cause is fixed, once."""

from __future__ import annotations

import base64
import copy
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prism.adapters.files import FileDeadLetters
from prism.adapters.memory import MemoryBus, MemoryDeadLetters, MemoryLogStore, MemoryRawPayloadStore
from prism.errors import StoreError
from prism.ingest import Ingestor
from prism.ports import DeadLetter
from prism.redact import RegexRedactor
from prism.write import RecordWriter
from writer.handler import handle
from writer.replay import replay

from tests.support.lambda_context import LambdaContext

EVENT = json.loads((Path(__file__).resolve().parents[2] / "events" / "chat_turn_with_pii.json").read_text())
NOW = datetime(2026, 11, 27, 7, 0, 5, tzinfo=UTC)


def published(*models: str) -> list[bytes]:
    bus = MemoryBus()
    events = [{**copy.deepcopy(EVENT), "id": str(uuid.uuid4()), "model": m} for m in models]
    Ingestor(bus, RegexRedactor(), MemoryRawPayloadStore(), clock=lambda: NOW).ingest(events)
    return [data for _, data in bus.messages]


def kinesis_event(datas: list[bytes | str]) -> dict[str, Any]:
    """The event Lambda passes for a Kinesis batch (a str is sent as the 'data' field as is)."""
    return {
        "Records": [
            {
                "eventSource": "aws:kinesis",
                "eventSourceARN": "arn:aws:kinesis:eu-west-1:123456789012:stream/prism",
                "eventID": f"shardId-000000000000:{4960 + i:056d}",
                "eventName": "aws:kinesis:record",
                "eventVersion": "1.0",
                "awsRegion": "eu-west-1",
                "invokeIdentityArn": "arn:aws:iam::123456789012:role/prism-writer",
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": "p",
                    "sequenceNumber": f"{4960 + i:056d}",
                    "data": d if isinstance(d, str) else base64.b64encode(d).decode(),
                    "approximateArrivalTimestamp": 1764572400.0,
                },
            }
            for i, d in enumerate(datas)
        ]
    }


def test_a_poison_record_is_dead_lettered_with_its_data_and_the_batch_succeeds() -> None:
    datas: list[bytes | str] = [*published("gpt-4o", "gpt-4o", "poisoned-model", "gpt-4o")]
    datas.append("not base64 at all!")
    event = kinesis_event(datas)
    store, letters = MemoryLogStore(poison={"poisoned-model"}), MemoryDeadLetters()

    response = handle(event, RecordWriter(store, MemoryRawPayloadStore()), LambdaContext(), letters, lambda: NOW)

    assert response == {"batchItemFailures": []}
    assert len(store.rows) == 3
    poison_seq, bad_seq = (event["Records"][i]["kinesis"]["sequenceNumber"] for i in (2, 4))
    assert sorted(letters.stored) == [f"2026-11-27/{poison_seq}.json", f"2026-11-27/{bad_seq}.json"]
    poison = letters.stored[f"2026-11-27/{poison_seq}.json"]
    assert base64.b64decode(poison.data or "") == datas[2]
    assert "poisoned model" in poison.reason
    assert letters.stored[f"2026-11-27/{bad_seq}.json"].data == "not base64 at all!"
    assert "not base64" in letters.stored[f"2026-11-27/{bad_seq}.json"].reason


def test_the_database_down_fails_the_batch_and_dead_letters_nothing() -> None:
    class Down(MemoryLogStore):
        def write(self, rows):  # type: ignore[no-untyped-def]
            raise StoreError("PostgreSQL: connection refused")

    letters = MemoryDeadLetters()
    event = kinesis_event([*published("gpt-4o", "gpt-4o"), "%%%"])
    with pytest.raises(StoreError):
        handle(event, RecordWriter(Down(), MemoryRawPayloadStore()), LambdaContext(), letters, lambda: NOW)
    assert letters.stored == {}


def test_a_letter_that_cannot_be_stored_is_reported_for_retry() -> None:
    letters = MemoryDeadLetters()
    letters.down = True
    event = kinesis_event([*published("gpt-4o", "poisoned-model")])
    store = MemoryLogStore(poison={"poisoned-model"})
    response = handle(event, RecordWriter(store, MemoryRawPayloadStore()), LambdaContext(), letters, lambda: NOW)
    assert response == {"batchItemFailures": [{"itemIdentifier": event["Records"][1]["kinesis"]["sequenceNumber"]}]}
    assert len(store.rows) == 1


def test_replay_writes_a_fixed_record_once_and_keeps_what_still_fails() -> None:
    store, letters = MemoryLogStore(poison={"flaky-model"}), MemoryDeadLetters()
    writer = RecordWriter(store, MemoryRawPayloadStore())
    event = kinesis_event([*published("flaky-model", "gpt-4o"), "%%%"])
    assert handle(event, writer, LambdaContext(), letters, lambda: NOW) == {"batchItemFailures": []}
    assert len(store.rows) == 1 and len(letters.stored) == 2

    still = replay(letters, writer)  # the cause is not fixed yet: nothing removed
    assert (still.replayed, still.still_failing, still.unreadable) == (0, 1, 1)
    assert len(letters.stored) == 2

    store.poison.clear()  # fixed
    first = replay(letters, writer)
    assert (first.replayed, first.written, first.unreadable) == (1, 1, 1)
    assert len(store.rows) == 2 and len(letters.stored) == 1

    # the same record dead-lettered again (a retried batch) replays as a duplicate: counted once
    letters.put(DeadLetter(id="x", data=event["Records"][0]["kinesis"]["data"], reason="again", at=NOW))
    second = replay(letters, writer)
    assert (second.replayed, second.written, second.duplicates) == (1, 0, 1)
    assert len(store.rows) == 2


def test_file_dead_letters_round_trip(tmp_path: Path) -> None:
    letters = FileDeadLetters(tmp_path / "dead-letters")
    letter = DeadLetter(id="4960/1", data="AAEC", reason="why", at=NOW)
    key = letters.put(letter)
    assert key == "2026-11-27/4960_1.json"
    assert letters.letters() == [(key, letter)]
    letters.remove(key)
    assert letters.letters() == []
