"""The writer's core: bus messages in, rows committed. Both entry points (the Redis Streams
consumer and the Kinesis Lambda handler) call ``RecordWriter.handle`` and nothing else."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import orjson

from prism.errors import RawPayloadNotFoundError
from prism.ports import BusMessage, LogStore, RawPayloadStore
from prism.records import BadRecordError, LogRow, decode_record, to_row

log = logging.getLogger(__name__)


@dataclass
class WriteOutcome:
    written: int = 0
    duplicates: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # message id -> why it cannot be written


class RecordWriter:
    def __init__(self, store: LogStore, raw_store: RawPayloadStore | None = None) -> None:
        self.store = store
        self.raw_store = raw_store

    def handle(self, messages: Sequence[BusMessage]) -> WriteOutcome:
        """Write a batch idempotently. Poison records are reported in ``failed`` (the rest is
        written); a transient failure (database or store down) raises UnavailableError and
        nothing may be acked."""
        outcome = WriteOutcome()
        rows: list[tuple[str, LogRow]] = []
        for message in messages:
            try:
                rows.append((message.id, self._row(message)))
            except BadRecordError as exc:
                outcome.failed[message.id] = str(exc)
        self._write(rows, outcome)
        return outcome

    def _row(self, message: BusMessage) -> LogRow:
        record = decode_record(message.data)
        event = record.get("event")
        if event is None:
            if self.raw_store is None:
                raise BadRecordError("record needs its raw payload but no store is configured")
            try:
                event = orjson.loads(self.raw_store.get(record["raw_payload_uri"]))
            except RawPayloadNotFoundError as exc:
                raise BadRecordError(str(exc)) from exc
            except orjson.JSONDecodeError as exc:
                raise BadRecordError(f"raw payload is not JSON: {exc}") from exc
        if not isinstance(event, dict):
            raise BadRecordError("event is not an object")
        return to_row(record, event)

    def _write(self, rows: list[tuple[str, LogRow]], outcome: WriteOutcome) -> None:
        """Write all; on a data error split the batch in halves until the poison row is found."""
        if not rows:
            return
        try:
            new = self.store.write([row for _, row in rows])
        except BadRecordError as exc:
            if len(rows) == 1:
                log.warning("poison record %s: %s", rows[0][0], exc)
                outcome.failed[rows[0][0]] = str(exc)
                return
            mid = len(rows) // 2
            self._write(rows[:mid], outcome)
            self._write(rows[mid:], outcome)
            return
        outcome.written += new
        outcome.duplicates += len(rows) - new
