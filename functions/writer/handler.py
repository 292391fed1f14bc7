"""The writer's Kinesis entry point (AWS Lambda; locally ``python -m writer.kinesis_poller`` drives
it the same way). Same core as the Redis Streams consumer.

Each record is decoded on its own (a record whose ``data`` is missing or not base64 fails alone);
the batch is written once through ``RecordWriter`` (one transaction, idempotent). The failure
policy:

- A record that can never be written (not base64, not a record, refused by the row builder or the
  database as bad data) is **dead-lettered by the handler itself**: its ``data`` and the reason go
  to the DeadLetterStore (``dead-letters/<date>/<sequence number>.json`` in the raw payload
  bucket), one ``dead-lettered record`` log line each (the alarm's metric filter), and the record
  counts as handled: it is not in ``batchItemFailures``, so it does not hold the shard back.
  ``python -m writer.replay`` feeds the letters back once the cause is fixed.
- A record whose letter cannot be stored (S3 down) is reported in ``batchItemFailures``: the
  event source mapping retries from it.
- A transient failure (the database is down: UnavailableError) raises before anything is
  dead-lettered: the whole batch is retried, for as long as the stream keeps the records
  (template.yaml: ``MaximumRetryAttempts: -1``, record age close to the retention).
"""

from __future__ import annotations

import base64
import binascii
import logging
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.kinesis_stream_event import KinesisStreamRecord
from prism import bootstrap
from prism.clock import Clock, utc_now
from prism.config import get_settings
from prism.errors import PrismError
from prism.logs import setup_logging
from prism.ports import BusMessage, DeadLetter, DeadLetterStore
from prism.records import BadRecordError
from prism.write import RecordWriter

log = logging.getLogger(__name__)
logger = setup_logging("prism-writer")

_writer: RecordWriter | None = None
_dead_letters: DeadLetterStore | None = None


def get_writer() -> RecordWriter:
    global _writer
    if _writer is None:
        _writer = bootstrap.build_record_writer(get_settings())
    return _writer


def get_dead_letters() -> DeadLetterStore:
    global _dead_letters
    if _dead_letters is None:
        _dead_letters = bootstrap.build_dead_letter_store(get_settings())
    return _dead_letters


def _decode(record: Any) -> tuple[str | None, bytes | str]:
    """(sequence number, data) of a Lambda Kinesis record, or (sequence number or None, why not)."""
    kinesis = record.get("kinesis") if isinstance(record, dict) else None
    if not isinstance(kinesis, dict):
        return None, "not a Kinesis record (no 'kinesis' object)"
    seq = kinesis.get("sequenceNumber")
    if not isinstance(seq, str) or not seq:
        return None, "Kinesis record without a sequenceNumber"
    data = kinesis.get("data")
    if not isinstance(data, str):
        return seq, "Kinesis record without 'data'" if data is None else "Kinesis record 'data' is not a string"
    try:
        return seq, base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        return seq, f"Kinesis record 'data' is not base64: {exc}"


def handle(
    event: dict[str, Any],
    writer: RecordWriter,
    context: Any = None,
    dead_letters: DeadLetterStore | None = None,
    clock: Clock = utc_now,
) -> dict[str, Any]:
    """Write one Lambda Kinesis event's batch; dead-letter the records that fail into
    ``dead_letters`` (without one, they are reported as ``batchItemFailures``)."""
    records = event.get("Records") or []
    messages: list[BusMessage] = []
    failed: dict[str, str] = {}
    received: dict[str, str | None] = {}  # sequence number -> 'data' as received
    unidentified: list[str] = []
    for record in records:
        seq, data = _decode(record)
        if seq is None:
            unidentified.append(str(data))
            continue
        raw = record["kinesis"].get("data")
        received[seq] = raw if isinstance(raw, str) else None
        if isinstance(data, bytes):
            messages.append(BusMessage(seq, data))
        else:
            failed[seq] = data
    outcome = writer.handle(messages)  # the database down raises: the batch is retried, nothing dead-lettered
    failed.update(outcome.failed)
    if outcome.expired:  # acknowledged like the written rows: not failures, not dead letters
        log.info("%d record(s) older than retention dropped", outcome.expired, extra={"expired": outcome.expired})
    if unidentified:
        # Nothing to name in batchItemFailures: fail the invocation, so the event source mapping
        # bisects down to the record and dead-letters it (what could be written is written).
        raise BadRecordError(f"{len(unidentified)} record(s) cannot be identified: {unidentified[0]}")
    if dead_letters is not None:
        failed = _dead_letter(failed, received, dead_letters, clock)
    for seq, reason in failed.items():
        log.warning("record %s failed: %s", seq, reason, extra={"sequence_number": seq, "reason": reason})

    def record_handler(record: KinesisStreamRecord) -> None:
        reason = failed.get(record.kinesis.sequence_number)
        if reason is not None:
            raise BadRecordError(reason)

    processor = BatchProcessor(event_type=EventType.KinesisDataStreams, raise_on_entire_batch_failure=False)
    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return dict(response)


def _dead_letter(
    failed: dict[str, str], received: dict[str, str | None], dead_letters: DeadLetterStore, clock: Clock
) -> dict[str, str]:
    """Store each failed record's letter; returns the ones that could not be stored (still failed)."""
    left: dict[str, str] = {}
    now = clock()
    for seq, reason in failed.items():
        letter = DeadLetter(id=seq, data=received.get(seq), reason=reason, at=now)
        try:
            key = dead_letters.put(letter)
        except PrismError as exc:
            log.error("cannot dead-letter record %s: %s", seq, exc.message)
            left[seq] = reason
            continue
        log.error(
            "dead-lettered record %s: %s",
            seq,
            reason,
            extra={"dead_letter": key, "reason": reason},
        )
    return left


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event, get_writer(), context, get_dead_letters())


@logger.inject_lambda_context(clear_state=True)
def maintenance(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Scheduled (hourly) and after each deploy: apply pending migrations (idempotent, under an
    advisory lock), create partitions ahead, drop expired ones, prune old idempotency ids.

    Invoked with ``{"replay": {"limit": N}}`` (docs/deploy.md) it replays the dead letters instead
    (``writer.replay``) and returns its counts."""
    settings = get_settings()
    if isinstance(event, dict) and isinstance(event.get("replay"), dict):
        from dataclasses import asdict

        from writer.replay import replay

        limit = int(event["replay"].get("limit", 100_000))
        letters = bootstrap.build_dead_letter_store(settings)
        return {"replay": asdict(replay(letters, bootstrap.build_record_writer(settings), limit=limit))}
    profile = bootstrap.migrate_database(settings)
    return {"profile": profile, **bootstrap.build_log_store(settings).maintain()}
