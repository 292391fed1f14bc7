"""Redis restarts: with its append-only file (as compose runs it) a kill under load loses and doubles
nothing; without persistence the stream is gone, and the pipeline still carries on by itself."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.recovery.conftest import assert_exactly_once, group_figures, stack_env, stored
from tests.support.load import IngestLoad
from tests.support.servers import RedisServer
from tests.support.stack import Stack


def _wait_acked(redis_url: str, stream: str, timeout: float = 30.0) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    while True:
        figures = group_figures(redis_url, stream)
        if figures["pending"] == 0 or time.monotonic() > deadline:
            return figures
        time.sleep(0.05)


def _ready(url: str, timeout: float = 30.0) -> dict[str, object]:
    """/readyz of the ingestion API, polled until it answers 200."""
    deadline = time.monotonic() + timeout
    while True:
        resp = httpx.get(f"{url}/readyz", timeout=10)
        if resp.status_code == 200 or time.monotonic() > deadline:
            assert resp.status_code == 200, resp.text
            return resp.json()  # type: ignore[no-any-return]
        time.sleep(0.1)


@pytest.fixture(params=["always", "everysec"])
def redis_aof_fsync(request: pytest.FixtureRequest) -> Iterator[RedisServer]:
    """Redis with an append-only file, fsynced on every write or every second (compose's setting)."""
    with RedisServer(appendonly=True, appendfsync=request.param) as server:
        yield server


def test_a_redis_kill_under_load_loses_nothing_and_doubles_nothing(
    database: str, redis_aof_fsync: RedisServer, stream: str, tmp_path: Path
) -> None:
    redis_server = redis_aof_fsync
    # GIVEN the ingestion API and the writer on a Redis with an append-only file
    with Stack(database, redis_server.url, stream, env=stack_env(tmp_path)) as stack:
        load = IngestLoad(stack.ingest_url, stack.headers, batches=100, batch_size=20).start()
        load.wait_for_batches(25)
        stack.wait_for_rows(1)
        # WHEN Redis is killed (SIGKILL: nothing more written) and is back 1 s later
        redis_server.stop(kill=True)
        at_kill = load.accepted_batches
        time.sleep(1.0)
        redis_server.start()
        load.join()
        # THEN the load, re-sending what was refused, got every batch accepted ...
        assert not load.errors, load.errors[:3]
        assert 25 <= at_kill < 100 and load.accepted_batches == 100
        # ... every accepted event is stored once: the stream and the group's state came back from the
        # append-only file, records written but not acked before the kill are re-delivered as duplicates
        assert_exactly_once(stack, load.accepted)
        assert _wait_acked(redis_server.url, stream) == {"pending": 0, "dead": 0}
        # ... and nobody had to be restarted: both processes are the ones started, ingestion is ready
        assert all(proc.poll() is None for proc in stack.procs.values())
        assert _ready(stack.ingest_url)["checks"] == {"bus": "ok", "raw_store": "ok"}


@pytest.fixture
def redis_volatile() -> Iterator[RedisServer]:
    with RedisServer(appendonly=False) as server:
        yield server


def test_without_persistence_a_redis_restart_loses_the_stream_and_the_pipeline_carries_on(
    database: str, redis_volatile: RedisServer, stream: str, tmp_path: Path
) -> None:
    """Why compose runs Redis with an append-only file: what the writer had not read when Redis
    restarted without one is lost (documented in docs/architecture.md)."""
    with Stack(database, redis_volatile.url, stream, env=stack_env(tmp_path), writer=False) as stack:
        # GIVEN 100 events accepted while the writer is stopped: they are only in the stream
        unread = IngestLoad(stack.ingest_url, stack.headers, batches=5, batch_size=20).start()
        unread.join()
        assert len(unread.accepted) == 100 and not unread.errors
        # WHEN Redis restarts with no append-only file and no snapshot
        redis_volatile.restart()
        # THEN those 100 are gone with the stream; what is accepted afterwards is stored
        stack.start_writer()
        before = IngestLoad(stack.ingest_url, stack.headers, batches=5, batch_size=20).start()
        before.join()
        assert_exactly_once(stack, before.accepted)
        # AND WHEN it restarts empty again, under a running writer (its consumer group is gone too)
        redis_volatile.restart()
        after = IngestLoad(stack.ingest_url, stack.headers, batches=5, batch_size=20).start()
        after.join()
        assert not (before.errors or after.errors), (before.errors + after.errors)[:3]
        # THEN the writer makes its group again by itself and stores everything accepted since, and
        # ingestion reconnected: neither was restarted
        assert_exactly_once(stack, before.accepted + after.accepted)
        rows, ids = stored(database)
        assert rows == 200 and not ids & set(unread.accepted)
        assert _wait_acked(redis_volatile.url, stream) == {"pending": 0, "dead": 0}
        assert all(proc.poll() is None for proc in stack.procs.values())
