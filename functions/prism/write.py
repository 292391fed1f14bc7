"""The writer's core: bus messages in, rows committed. Both entry points (the Redis Streams
consumer and the Kinesis Lambda handler) call ``RecordWriter.handle`` and nothing else.

A record is judged on its own: whatever goes wrong while turning *one* record into a row (it is
not a record, its raw payload cannot be read for any reason, its event breaks the row builder)
marks that record failed, with the reason, and the rest of the batch is written. The entry points
give failed records a retry budget and then the dead letters, so no record holds back the ones
behind it. Only a failure of the log store itself (the database is down) fails the whole batch.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import orjson

from prism.errors import PrismError, RawPayloadNotFoundError, UnavailableError
from prism.ports import BusMessage, LogStore, RawPayloadStore
from prism.records import BadRecordError, LogRow, decode_record, to_row

log = logging.getLogger(__name__)

FETCH_THREADS = 16  # raw payloads of one batch are fetched this many at a time


@dataclass
class WriteOutcome:
    written: int = 0
    duplicates: int = 0
    expired: int = 0  # rows older than the store's retention: acknowledged, counted, not stored
    failed: dict[str, str] = field(default_factory=dict)  # message id -> why it cannot be written


class RecordWriter:
    def __init__(self, store: LogStore, raw_store: RawPayloadStore | None = None) -> None:
        self.store = store
        self.raw_store = raw_store
        self._pool: ThreadPoolExecutor | None = None

    def handle(self, messages: Sequence[BusMessage]) -> WriteOutcome:
        """Write a batch idempotently. Records that cannot be made into rows, for whatever reason,
        are reported in ``failed`` (the rest is written); a failure of the log store (database
        down) raises UnavailableError and nothing may be acked."""
        outcome = WriteOutcome()
        rows: list[tuple[str, LogRow]] = []
        by_reference: list[tuple[BusMessage, dict[str, Any]]] = []  # records whose event is in the raw store
        for message in messages:  # one record at a time: a decoded record is dropped once it is a row
            try:
                record = decode_record(message.data)
                if record.get("event") is None:
                    by_reference.append((message, record))
                else:
                    rows.append((message.id, self._to_row(record, record["event"])))
            except Exception as exc:  # any record-level problem fails that record only
                self._fail(outcome, message, exc)
        payloads = self._fetch([(m.id, r["raw_payload_uri"]) for m, r in by_reference])
        for message, record in by_reference:
            try:
                fetched = payloads[message.id]
                if isinstance(fetched, BaseException):
                    raise fetched
                try:
                    event = orjson.loads(fetched)
                except orjson.JSONDecodeError as exc:
                    raise BadRecordError(f"raw payload is not JSON: {exc}") from exc
                rows.append((message.id, self._to_row(record, event)))
            except Exception as exc:
                self._fail(outcome, message, exc)
        self._write(self._retained(rows, outcome), outcome)
        return outcome

    def _retained(self, rows: list[tuple[str, LogRow]], outcome: WriteOutcome) -> list[tuple[str, LogRow]]:
        """The rows the store keeps. A row older than its retention (a replay of old records, a
        writer back after weeks) would be deleted by the next retention run: it is dropped now and
        counted in ``expired``, not failed (it is not broken), on every storage profile."""
        since = self.store.retained_since()
        if since is None:
            return rows
        # (a created_at without a zone cannot be compared: the store judges it)
        kept = [(mid, row) for mid, row in rows if row.created_at.tzinfo is None or row.created_at >= since]
        if len(kept) < len(rows):
            outcome.expired += len(rows) - len(kept)
            log.warning("%d row(s) older than retention (%s) dropped", len(rows) - len(kept), since.isoformat())
        return kept

    @staticmethod
    def _to_row(record: dict[str, Any], event: Any) -> LogRow:
        if not isinstance(event, dict):
            raise BadRecordError("event is not an object")
        return to_row(record, event)

    @staticmethod
    def _fail(outcome: WriteOutcome, message: BusMessage, exc: Exception) -> None:
        if not isinstance(exc, PrismError | ValueError):
            log.exception("record %s cannot be made into a row", message.id)
        outcome.failed[message.id] = _reason(exc)

    def _fetch(self, wanted: list[tuple[str, Any]]) -> dict[str, bytes | BaseException]:
        """The raw payloads of the records sent by reference, fetched concurrently; a fetch that
        fails gives its exception (that record fails, not the batch)."""

        def one(uri: Any) -> bytes | BaseException:
            if self.raw_store is None:
                return BadRecordError("record needs its raw payload but no store is configured")
            if not isinstance(uri, str):
                return BadRecordError(f"raw_payload_uri is not a string: {uri!r}")
            try:
                return self.raw_store.get(uri)
            except RawPayloadNotFoundError as exc:
                return BadRecordError(str(exc))
            except UnavailableError as exc:  # no such bucket, access denied, a URI this store cannot serve, S3 down
                return BadRecordError(f"raw payload unavailable: {exc.message}")
            except Exception as exc:
                return exc

        if len(wanted) <= 1 or self.raw_store is None:
            return {mid: one(uri) for mid, uri in wanted}
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=FETCH_THREADS, thread_name_prefix="raw-get")
        return dict(zip((mid for mid, _ in wanted), self._pool.map(one, (uri for _, uri in wanted)), strict=True))

    def _write(self, rows: list[tuple[str, LogRow]], outcome: WriteOutcome) -> None:
        """Write all; when the store refuses the data, split the batch in halves until the rows
        it refuses are alone. Anything but an unavailable store is taken as refused data."""
        if not rows:
            return
        try:
            new = self.store.write([row for _, row in rows])
        except UnavailableError:
            raise
        except Exception as exc:  # BadRecordError, or an error nobody foresaw
            if not isinstance(exc, BadRecordError):
                log.exception("log store failed on a batch of %d rows; isolating the cause", len(rows))
            if len(rows) == 1:
                log.warning("poison record %s: %s", rows[0][0], exc)
                outcome.failed[rows[0][0]] = _reason(exc)
                return
            mid = len(rows) // 2
            self._write(rows[:mid], outcome)
            self._write(rows[mid:], outcome)
            return
        outcome.written += new
        outcome.duplicates += len(rows) - new


def _reason(exc: BaseException) -> str:
    if isinstance(exc, BadRecordError):
        return str(exc)
    message = exc.message if isinstance(exc, PrismError) else str(exc)
    return f"{type(exc).__name__}: {message}"
