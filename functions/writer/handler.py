"""The writer's Kinesis entry point (AWS Lambda). Same core as the Redis Streams consumer.

The batch is written once through ``RecordWriter`` (one transaction, idempotent); Powertools'
batch processor then reports the poison records as ``batchItemFailures`` so Lambda retries or
dead-letters only those. A transient failure (database down) raises: the whole batch is retried.
"""

from __future__ import annotations

import base64
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.kinesis_stream_event import KinesisStreamRecord
from prism.config import get_settings
from prism.ports import BusMessage
from prism.records import BadRecordError
from prism.write import RecordWriter

_writer: RecordWriter | None = None


def get_writer() -> RecordWriter:
    global _writer
    if _writer is None:
        from prism.bootstrap import build_record_writer

        _writer = build_record_writer(get_settings())
    return _writer


def handle(event: dict[str, Any], writer: RecordWriter, context: Any = None) -> dict[str, Any]:
    records = event.get("Records") or []
    messages = [BusMessage(r["kinesis"]["sequenceNumber"], base64.b64decode(r["kinesis"]["data"])) for r in records]
    failed = writer.handle(messages).failed

    def record_handler(record: KinesisStreamRecord) -> None:
        reason = failed.get(record.kinesis.sequence_number)
        if reason is not None:
            raise BadRecordError(reason)

    processor = BatchProcessor(event_type=EventType.KinesisDataStreams, raise_on_entire_batch_failure=False)
    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return dict(response)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event, get_writer(), context)


def maintenance(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Scheduled (hourly) and after each deploy: apply pending migrations (idempotent, under an
    advisory lock), create partitions ahead, drop expired ones, prune old idempotency ids."""
    from prism.adapters.postgres import PostgresLogStore, migrate

    settings = get_settings()
    profile = migrate(
        settings.database_dsn,
        partitions_ahead_days=settings.partitions_ahead_days,
        retention_days=settings.retention_days,
    )
    store = PostgresLogStore(
        settings.database_dsn,
        partitions_ahead_days=settings.partitions_ahead_days,
        retention_days=settings.retention_days,
        minute_histogram_days=settings.minute_histogram_days,
    )
    return {"profile": profile, **store.maintain()}
