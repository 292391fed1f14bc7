"""The composition root: every entry point gets its parts here, the real adapters from settings.

The uvicorn apps (``ingestion.app``, ``query.app``, ``chat.app``), the Lambda handlers
(``*/handler.py``), the writer's loops (``writer.consumer``, ``writer.kinesis_poller``) and the
commands (``prism.migrate``, ``chat.rotate_creds``) call these builders; tests pass their own parts
(the fakes in ``prism.adapters.memory``) instead. Adapters are imported here, lazily, so an entry
point loads only the technologies it uses.
"""

from __future__ import annotations

import os
import socket
from typing import TYPE_CHECKING

from prism.clock import Clock, utc_now
from prism.config import Settings
from prism.ingest import Ingestor
from prism.ports import Bus, DeadLetterStore, RawPayloadStore
from prism.redact import make_redactor
from prism.write import RecordWriter

if TYPE_CHECKING:
    from prism.adapters.kinesis import KinesisStreamReader, SqsDeadLetters
    from prism.adapters.postgres import PostgresLogStore
    from prism.adapters.postgres_chat import PostgresChatStore
    from prism.adapters.postgres_keys import PostgresIngestKeys
    from prism.adapters.postgres_query import PostgresQueryStore
    from prism.adapters.redis_streams import RedisStreamsReader
    from prism.identity.service import IdentityService


def aws_endpoint() -> str | None:
    return os.environ.get("AWS_ENDPOINT_URL") or None


# --- the pipeline: ingestion, bus, writer -------------------------------------------------------


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


def build_ingest_keys(settings: Settings) -> PostgresIngestKeys:
    """The projects' ingestion keys (ingestion resolves bearer tokens with them; the chat registers
    its own); the pool opens on first use."""
    from prism.adapters.postgres_keys import PostgresIngestKeys

    return PostgresIngestKeys(settings.database_dsn)


def build_log_store(settings: Settings) -> PostgresLogStore:
    from prism.adapters.postgres import PostgresLogStore

    return PostgresLogStore(
        settings.database_dsn,
        partitions_ahead_days=settings.partitions_ahead_days,
        retention_days=settings.retention_days,
        minute_histogram_days=settings.minute_histogram_days,
    )


def build_record_writer(settings: Settings) -> RecordWriter:
    return RecordWriter(build_log_store(settings), build_raw_store(settings))


def build_dead_letter_store(settings: Settings) -> DeadLetterStore:
    """Where the Kinesis handler keeps the records it can never write (with their data and why),
    next to the raw payloads: ``dead-letters/`` in the raw payload bucket, or under the raw folder."""
    if settings.raw_store == "file":
        from prism.adapters.files import FileDeadLetters

        return FileDeadLetters(os.path.join(settings.raw_dir, "dead-letters"))
    from prism.adapters.s3 import S3DeadLetters, s3_client

    return S3DeadLetters(settings.raw_bucket, client=s3_client(aws_endpoint()))


def build_replay_sources(settings: Settings) -> list[DeadLetterStore]:
    """What ``writer.replay`` reads: the Kinesis handler's letters, and on the Redis bus the
    consumer's dead-letter stream (``<stream>:dead``) too."""
    sources = [build_dead_letter_store(settings)]
    if settings.bus == "redis":
        from prism.adapters.redis_streams import RedisDeadLetters

        sources.append(RedisDeadLetters(settings.redis_dsn, settings.stream))
    return sources


def build_stream_reader(settings: Settings) -> RedisStreamsReader:
    """The Redis Streams writer's reader: its consumer group, and this process's name in it."""
    from prism.adapters.redis_streams import RedisStreamsReader

    consumer_name = settings.writer_consumer or f"{socket.gethostname()}-{os.getpid()}"
    return RedisStreamsReader(settings.redis_dsn, settings.stream, settings.writer_group, consumer_name)


def build_kinesis_reader(settings: Settings) -> KinesisStreamReader:
    from prism.adapters.kinesis import KinesisStreamReader, kinesis_client

    return KinesisStreamReader(settings.kinesis_stream, client=kinesis_client(aws_endpoint()))


def build_dead_letters(settings: Settings) -> SqsDeadLetters:
    """Where the local Kinesis poller sends a batch that exhausted its retries."""
    from prism.adapters.kinesis import SqsDeadLetters, sqs_client

    return SqsDeadLetters(settings.writer_dlq, client=sqs_client(aws_endpoint()))


def migrate_database(settings: Settings, profile: str = "auto") -> str:
    """Apply pending migrations (idempotent, under an advisory lock); returns the schema profile."""
    from prism.adapters.postgres import migrate

    return migrate(
        settings.database_dsn,
        profile=profile,
        partitions_ahead_days=settings.partitions_ahead_days,
        retention_days=settings.retention_days,
    )


# --- the read side and the chat's data ----------------------------------------------------------


def build_query_store(settings: Settings) -> PostgresQueryStore:
    """The read side's store: rollups, histograms, log rows and saved dashboards."""
    from prism.adapters.postgres_query import PostgresQueryStore

    return PostgresQueryStore(settings.database_dsn)


def build_chat_store(settings: Settings, *, max_size: int | None = None) -> PostgresChatStore:
    """The chat's store: conversations, messages, provider credentials (``max_size``: its pool)."""
    from prism.adapters.postgres_chat import PostgresChatStore

    if max_size is None:
        return PostgresChatStore(settings.database_dsn)
    return PostgresChatStore(settings.database_dsn, max_size=max_size)


# --- identity and access ------------------------------------------------------------------------


def build_identity_service(settings: Settings, clock: Clock = utc_now) -> IdentityService:
    """Users, sessions, keys, projects and the audit log on PostgreSQL, with the sign-in throttles
    (failed sign-ins per account and per address; failed key authentications per address, counted
    with ingestion's). Every app that guards routes with ``prism.auth.require`` puts one in
    ``app.state.identity``."""
    from datetime import timedelta

    from prism.adapters.postgres_identity import PostgresIdentityStore
    from prism.identity.service import IdentityPolicy, IdentityService
    from prism.ratelimit import RateLimiter

    limiter = RateLimiter(
        settings.rate_limit_storage,
        {"login_failures": settings.rate_limit_login_failures, "auth_failures": settings.rate_limit_auth_failures},
        key_prefix=f"{settings.stream}:ratelimit",  # beside ingestion's: one count of failures per address
    )
    policy = IdentityPolicy(
        session_idle=timedelta(hours=settings.session_idle_h),
        session_ttl=timedelta(hours=settings.session_ttl_h),
        password_login=settings.password_login_enabled,
        audit_retention=timedelta(days=settings.audit_retention_days),
    )
    return IdentityService(PostgresIdentityStore(settings.database_dsn), limiter=limiter, clock=clock, policy=policy)
