"""PostgreSQL restarts: no request fails once it is back (query API, chat API, the writer's store), and
a crash under load loses and doubles nothing.

Measured before the pooled connections were checked: after `pg_ctl restart -m fast`, the query API
answered 503 "store_unavailable: PostgreSQL: AdminShutdown: terminating connection due to
administrator command" to the next 3 of 10 requests (one per connection its pool held), and the
writer's first batch failed and was retried.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prism.adapters.files import FileRawPayloadStore
from prism.adapters.postgres import PostgresLogStore
from prism.adapters.postgres_identity import PostgresIdentityStore
from prism.adapters.postgres_query import PostgresQueryStore
from prism.config import Settings
from prism.records import LogRow, to_row

from tests.integration.recovery.conftest import assert_exactly_once, stack_env
from tests.support.auth import Caller, Callers, test_identity
from tests.support.load import IngestLoad, Poller
from tests.support.net import ThreadServer
from tests.support.servers import PostgresCluster, RedisServer
from tests.support.stack import Stack


def _query_app(
    database_url: str, tmp_path: Path, store: PostgresQueryStore | None = None, timeout: float = 10.0
) -> tuple[FastAPI, Caller]:
    """The query API on ``database_url`` (its sign-ins there too, on a pool waiting ``timeout``) and a
    viewer signed in to it."""
    from query.app import create_app

    identity = test_identity(PostgresIdentityStore(database_url, timeout=timeout))
    app = create_app(
        Settings(env="test", database_url=database_url),
        store=store,
        dashboards=store,
        raw_store=FileRawPayloadStore(str(tmp_path / "raw")),
        identity=identity,
    )
    return app, Callers(identity).session("viewer")


def _close(app: FastAPI) -> None:
    app.state.query.store.close()
    app.state.identity.store.close()


@pytest.fixture
def query_api(database: str, tmp_path: Path) -> Iterator[httpx.Client]:
    app, viewer = _query_app(database, tmp_path)
    with ThreadServer(app) as server, viewer.on(httpx.Client(base_url=server.url, timeout=30)) as client:
        yield client
    _close(app)


def _warm(client: httpx.Client, path: str, n: int = 8) -> None:
    """Concurrent requests, so the pool holds several connections when PostgreSQL goes away."""
    with ThreadPoolExecutor(n) as pool:
        assert {r.status_code for r in pool.map(lambda _: client.get(path), range(n))} == {200}


def test_the_query_api_fails_no_request_once_postgres_is_back(pg: PostgresCluster, query_api: httpx.Client) -> None:
    # GIVEN the query API with a pool of connections in use
    _warm(query_api, "/api/logs")
    # WHEN PostgreSQL restarts (every session told "terminating connection due to administrator command")
    pg.restart("fast")
    # THEN every request made once it is back succeeds, the first one without a long wait
    first = time.monotonic()
    resp = query_api.get("/api/logs")
    first_s = time.monotonic() - first
    assert resp.status_code == 200, resp.text
    assert first_s < 5.0, f"the first request after the restart took {first_s:.2f}s"  # the pool waits 30 s
    statuses = [query_api.get(path).status_code for path in ["/api/logs", "/api/metrics/summary"] * 10]
    with ThreadPoolExecutor(8) as pool:
        statuses += [r.status_code for r in pool.map(lambda _: query_api.get("/api/logs"), range(16))]
    assert statuses == [200] * len(statuses)


def test_the_query_api_reconnects_within_seconds_after_a_long_outage(
    pg: PostgresCluster, database: str, tmp_path: Path
) -> None:
    # GIVEN the query API on a pool that gives up waiting for a connection after 4 s
    store = PostgresQueryStore(database, timeout=4.0)
    app, viewer = _query_app(database, tmp_path, store, timeout=4.0)
    with (
        ThreadServer(app) as server,
        Poller(f"{server.url}/api/logs", pause_s=0.05, timeout_s=10, **viewer.kwargs()) as poller,
    ):
        poller.wait_for(3)
        # WHEN PostgreSQL is down for 8.5 s while requests keep coming
        pg.stop("fast")
        down = time.monotonic()
        time.sleep(8.5)
        pg.start()
        back = time.monotonic()
        # THEN requests while it is down fail in the pool's time, with a 503 (no hang)
        during = [s for t, s, _ in poller.results if down + 0.5 < t < back - 4.5]
        assert set(during) <= {503} and 503 in [s for t, s, _ in poller.results if down < t < back], during
        # AND the first request made once it is back succeeds: the pool retried within 2 s of the last
        # attempt, not 1, 2, 4, 8 ... s apart (its next attempt would come ~15 s after the outage began)
        started = time.monotonic()
        resp = httpx.get(f"{server.url}/api/logs", timeout=10, **viewer.kwargs())
        waited = time.monotonic() - started
        # AND so does every request from then on
        poller.wait_for(len(poller.results) + 5)
        later = [s for t, s, _ in poller.since(started)]
    _close(app)
    assert resp.status_code == 200, resp.text
    assert waited < 3.5, f"waited {waited:.2f}s for a connection after PostgreSQL came back"
    assert later and set(later) == {200}, later


def test_the_chat_api_fails_no_request_once_postgres_is_back(pg: PostgresCluster, database: str) -> None:
    from chat.app import create_app
    from chat.config import ChatSettings
    from cryptography.fernet import Fernet

    settings = ChatSettings(
        env="test", database_url=database, creds_key=Fernet.generate_key().decode(), demo_model=False
    )  # type: ignore[call-arg]
    identity = test_identity(PostgresIdentityStore(database))  # its sign-ins on the same cluster
    app = create_app(settings, identity=identity)
    member = Callers(identity).session("member")
    with ThreadServer(app) as server, member.on(httpx.Client(base_url=server.url, timeout=30)) as client:
        # GIVEN conversations written and read through a pool of several connections
        with ThreadPoolExecutor(8) as pool:
            created = list(pool.map(lambda _: client.post("/api/conversations", json={}), range(8)))
        assert {r.status_code for r in created} == {201}
        # WHEN PostgreSQL restarts
        pg.restart("fast")
        # THEN writes and reads made once it is back all succeed (a dead connection is replaced before
        # anything is sent on it, so even a write is never half-done)
        results: list[Any] = [client.post("/api/conversations", json={}) for _ in range(5)]
        results += [client.get("/api/conversations") for _ in range(5)]
        results += [client.get(f"/api/conversations/{r.json()['id']}") for r in created]
        with ThreadPoolExecutor(8) as pool:
            results += list(pool.map(lambda _: client.get("/api/conversations"), range(16)))
        assert [r.status_code for r in results if r.status_code >= 300] == [], [r.text for r in results][:3]
        listed = client.get("/api/conversations", params={"limit": 100}).json()
        assert len(listed["items"]) == 8 + 5
    app.state.chat.store.close()
    identity.store.close()


def _row() -> LogRow:
    now = datetime.now(UTC)
    record = {"created_at": now.isoformat(), "redactions": {}, "raw_payload_uri": None}
    event = {
        "id": str(uuid.uuid4()),
        "ts_start": now.isoformat(),
        "ts_end": now.isoformat(),
        "provider": "openai",
        "model": "m",
        "status": "ok",
    }
    return to_row(record, event)


def test_the_writer_store_writes_its_first_batch_after_a_restart(pg: PostgresCluster, database: str) -> None:
    # GIVEN the writer's store, its connection open
    store = PostgresLogStore(database)
    assert store.write([_row(), _row()]) == 2
    # WHEN PostgreSQL restarts between two batches
    pg.restart("fast")
    # THEN the next batch is written at the first try (the dead connection is noticed before it is used)
    assert store.write([_row(), _row(), _row()]) == 3
    store.close()


def test_a_postgres_crash_under_load_loses_nothing_and_doubles_nothing(
    pg: PostgresCluster, database: str, redis_server: RedisServer, stream: str, tmp_path: Path
) -> None:
    # GIVEN the ingestion API and the writer (processes) and the query API, events flowing
    app, viewer = _query_app(database, tmp_path)
    with (
        Stack(database, redis_server.url, stream, env=stack_env(tmp_path)) as stack,
        ThreadServer(app) as query,
        Poller(f"{query.url}/api/logs?limit=5", **viewer.kwargs()) as poller,
    ):
        load = IngestLoad(stack.ingest_url, stack.headers, batches=100, batch_size=20).start()
        load.wait_for_batches(25)
        stack.wait_for_rows(1)
        # WHEN PostgreSQL crashes (no checkpoint, no goodbye to its sessions) and is down for 1.5 s
        pg.stop("immediate")
        at_crash = load.accepted_batches
        time.sleep(1.5)
        pg.start()
        back = time.monotonic()
        at_back = load.accepted_batches
        load.join()
        # THEN ingestion never stopped accepting (it does not use PostgreSQL) ...
        assert not load.errors, load.errors[:3]
        assert at_back > at_crash, "events were accepted while PostgreSQL was down"
        assert load.accepted_batches == 100
        # ... the writer waited it out by itself and stored every accepted event exactly once
        assert_exactly_once(stack, load.accepted)
        assert "store unavailable" in stack.logs("writer"), "the writer met the outage"
        assert stack.procs["writer"].poll() is None, "the writer is still running"
        # ... and the query API answered every request made once PostgreSQL was back
        poller.wait_for(len(poller.results) + 3)
        after = poller.since(back)
        assert after and [r for r in after if r[1] != 200] == [], [r for r in after if r[1] != 200][:3]
