"""Recovery tests: PostgreSQL and Redis of their own (the tests stop, kill and restart them; never the
machine's on 5432 and 6379), a migrated database and a stream per test, and the functions on them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from prism.adapters.postgres import drop_database, migrate

from tests.support.servers import PostgresCluster, RedisServer, postgres_bin
from tests.support.stack import Stack


@pytest.fixture(scope="package")
def pg() -> Iterator[PostgresCluster]:
    """One cluster for every recovery test (initdb once); each test gets its own database in it."""
    if postgres_bin() is None:
        pytest.skip("PostgreSQL server binaries are not installed")
    with PostgresCluster() as cluster:
        yield cluster


@pytest.fixture(scope="package")
def redis_aof() -> Iterator[RedisServer]:
    """Redis with an append-only file fsynced on every write, as compose runs it."""
    with RedisServer(appendonly=True) as server:
        yield server


@pytest.fixture
def database(pg: PostgresCluster) -> Iterator[str]:
    if not pg.running():  # a test that failed half-way may have left it stopped
        pg.start()
    url = pg.url(f"prism_recovery_{uuid.uuid4().hex[:10]}")
    migrate(url, profile="postgres")
    yield url
    if not pg.running():
        pg.start()
    drop_database(url)


@pytest.fixture
def redis_server(redis_aof: RedisServer) -> RedisServer:
    if redis_aof.proc is None or redis_aof.proc.poll() is not None:
        redis_aof.start()
    return redis_aof


@pytest.fixture
def stream() -> str:
    return f"prism-recovery:{uuid.uuid4().hex[:12]}:inference.logged"


def stack_env(tmp_path: Path) -> dict[str, str]:
    """Raw payloads on local files: the recovery tests need no S3."""
    return {"PRISM_RAW_STORE": "file", "PRISM_RAW_DIR": str(tmp_path / "raw")}


def stored(database_url: str) -> tuple[int, set[str]]:
    """(rows, distinct ids) in inference_logs."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT id::text FROM inference_logs").fetchall()
    return len(rows), {r[0] for r in rows}


def assert_exactly_once(stack: Stack, accepted: list[str], timeout: float = 60.0) -> None:
    """Every accepted event is stored once: as many rows as events accepted, one per id, the same ids."""
    stack.wait_for_rows(len(accepted), timeout=timeout)
    rows, ids = stored(stack.database_url)
    assert len(set(accepted)) == len(accepted), "the load made each id once"
    assert rows == len(accepted), f"{rows} rows for {len(accepted)} accepted events"
    assert ids == set(accepted), f"{len(ids - set(accepted))} unexpected ids, {len(set(accepted) - ids)} missing"


def group_figures(redis_url: str, stream: str, group: str = "cg-writer") -> dict[str, Any]:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        for g in client.xinfo_groups(stream):
            if g["name"].decode() == group:
                return {"pending": int(g["pending"]), "dead": int(client.xlen(f"{stream}:dead"))}
        return {"pending": -1, "dead": int(client.xlen(f"{stream}:dead"))}
    finally:
        client.close()
