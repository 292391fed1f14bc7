"""The writer's Kinesis entry point (AWS Lambda; locally ``python -m writer.kinesis_poller`` drives
it the same way). Same core as the Redis Streams consumer.

Each record is decoded on its own (a record whose ``data`` is missing or not base64 fails alone);
the batch is written once through ``RecordWriter`` (one transaction, idempotent); Powertools'
batch processor then reports every record that could not be written as ``batchItemFailures``, so
the event source mapping checkpoints before the first of them and retries or dead-letters from
there. A transient failure (database down) raises: the whole batch is retried.
"""

from __future__ import annotations

import base64
import binascii
import logging
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.kinesis_stream_event import KinesisStreamRecord
from prism import bootstrap
from prism.config import get_settings
from prism.logs import setup_logging
from prism.ports import BusMessage
from prism.records import BadRecordError
from prism.write import RecordWriter

log = logging.getLogger(__name__)
logger = setup_logging("prism-writer")

_writer: RecordWriter | None = None


def get_writer() -> RecordWriter:
    global _writer
    if _writer is None:
        _writer = bootstrap.build_record_writer(get_settings())
    return _writer


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


def handle(event: dict[str, Any], writer: RecordWriter, context: Any = None) -> dict[str, Any]:
    records = event.get("Records") or []
    messages: list[BusMessage] = []
    failed: dict[str, str] = {}
    unidentified: list[str] = []
    for record in records:
        seq, data = _decode(record)
        if seq is None:
            unidentified.append(str(data))
        elif isinstance(data, bytes):
            messages.append(BusMessage(seq, data))
        else:
            failed[seq] = data
    outcome = writer.handle(messages)
    failed.update(outcome.failed)
    if outcome.expired:  # acknowledged like the written rows: not failures, not dead letters
        log.info("%d record(s) older than retention dropped", outcome.expired, extra={"expired": outcome.expired})
    for seq, reason in failed.items():
        log.warning("record %s failed: %s", seq, reason, extra={"sequence_number": seq, "reason": reason})
    if unidentified:
        # Nothing to name in batchItemFailures: fail the invocation, so the event source mapping
        # bisects down to the record and dead-letters it (what could be written is written).
        raise BadRecordError(f"{len(unidentified)} record(s) cannot be identified: {unidentified[0]}")

    def record_handler(record: KinesisStreamRecord) -> None:
        reason = failed.get(record.kinesis.sequence_number)
        if reason is not None:
            raise BadRecordError(reason)

    processor = BatchProcessor(event_type=EventType.KinesisDataStreams, raise_on_entire_batch_failure=False)
    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return dict(response)


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event, get_writer(), context)


@logger.inject_lambda_context(clear_state=True)
def maintenance(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Scheduled (hourly) and after each deploy: apply pending migrations (idempotent, under an
    advisory lock), create partitions ahead, drop expired ones, prune old idempotency ids."""
    settings = get_settings()
    profile = bootstrap.migrate_database(settings)
    return {"profile": profile, **bootstrap.build_log_store(settings).maintain()}
