"""The composition root: real adapters from settings. Tests pass their own instead."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from prism.config import Settings
from prism.ingest import Ingestor
from prism.ports import Bus, RawPayloadStore

if TYPE_CHECKING:
    from prism.adapters.postgres_query import PostgresQueryStore
from prism.redact import make_redactor
from prism.write import RecordWriter


def aws_endpoint() -> str | None:
    return os.environ.get("AWS_ENDPOINT_URL") or None


def build_bus(settings: Settings) -> Bus:
    if settings.bus == "kinesis":
        from prism.adapters.kinesis import KinesisBus, kinesis_client

        return KinesisBus(settings.kinesis_stream, client=kinesis_client(aws_endpoint()))
    from prism.adapters.redis_streams import RedisStreamsBus

    return RedisStreamsBus(settings.redis_dsn, settings.stream, settings.stream_maxlen, settings.stream_max_bytes)


def build_raw_store(settings: Settings) -> RawPayloadStore:
    if settings.raw_store == "file":
        from prism.adapters.files import FileRawPayloadStore

        return FileRawPayloadStore(settings.raw_dir)
    from prism.adapters.s3 import S3RawPayloadStore, s3_client

    return S3RawPayloadStore(settings.raw_bucket, client=s3_client(aws_endpoint()))


def build_ingestor(settings: Settings) -> Ingestor:
    return Ingestor(
        build_bus(settings),
        make_redactor(settings.redactor),
        build_raw_store(settings),
        keep_raw=settings.keep_raw,
        max_payload_bytes=settings.bus_max_payload_bytes,
    )


def build_record_writer(settings: Settings) -> RecordWriter:
    from prism.adapters.postgres import PostgresLogStore

    store = PostgresLogStore(
        settings.database_dsn,
        partitions_ahead_days=settings.partitions_ahead_days,
        retention_days=settings.retention_days,
        minute_histogram_days=settings.minute_histogram_days,
    )
    return RecordWriter(store, build_raw_store(settings))


def build_query_store(settings: Settings) -> PostgresQueryStore:
    """The read side's store: rollups, histograms, log rows and saved dashboards."""
    from prism.adapters.postgres_query import PostgresQueryStore

    return PostgresQueryStore(settings.database_dsn)
