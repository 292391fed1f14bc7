"""The storage profiles made exact (issue 13): forcing a profile, migrations safe to re-run, every
row counted in ``metrics_minute`` and the histograms whatever its lateness, one rule for rows older
than retention. Tests taking ``profile`` run on plain PostgreSQL, and on TimescaleDB where the test
server has it (``PRISM_TEST_PG``); the Timescale-only ones are skipped, with the reason, elsewhere."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from prism.adapters.postgres import PostgresLogStore, drop_database, migrate, retention_start
from prism.errors import ConfigError
from prism.ports import BusMessage
from prism.records import encode_record
from prism.write import RecordWriter
from psycopg import sql

from tests.conftest import ROOT, _db_url
from tests.integration.pipeline.conftest import make_event
from tests.support.profile import profiles, requires_timescale, settle_rollup, timescale_missing
from tests.support.stack import Stack

RETENTION_DAYS = 30


@pytest.fixture
def new_database() -> Iterator[str]:
    """The URL of a database nobody has made yet (migrate creates it); dropped afterwards."""
    url = _db_url(f"prism_test_profile_{uuid.uuid4().hex[:10]}")
    yield url
    drop_database(url)


@pytest.fixture
def migrated(new_database: str, profile: str) -> str:
    migrate(new_database, profile=profile, retention_days=RETENTION_DAYS)
    return new_database


def run_migrate(url: str, profile: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "functions"), "PRISM_DATABASE_URL": url}
    env["PRISM_STORAGE_PROFILE"] = profile
    return subprocess.run([sys.executable, "-m", "prism.migrate"], env=env, capture_output=True, text=True, timeout=120)


def recorded(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        if conn.execute("SELECT to_regclass('schema_migrations')").fetchone() == (None,):
            return []
        return [r[0] for r in conn.execute("SELECT key FROM schema_migrations ORDER BY key")]


def exists(url: str, relation: str) -> bool:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT to_regclass(%s)", (relation,)).fetchone() != (None,)


# --- forcing a profile ------------------------------------------------------------------------


@pytest.mark.skipif(
    timescale_missing() is None, reason="the test server has TimescaleDB: forcing the profile succeeds there"
)
def test_forcing_timescale_without_the_extension_is_a_config_error_naming_it(new_database: str) -> None:
    # GIVEN a plain PostgreSQL server WHEN the Timescale profile is forced through the real CLI
    done = run_migrate(new_database, "timescale")
    # THEN it stops with the reason, naming the missing extension, and applies nothing
    assert done.returncode == 2, done.stderr
    assert "PRISM_STORAGE_PROFILE=timescale" in done.stderr and "timescaledb extension" in done.stderr
    assert "Traceback" not in done.stderr
    assert recorded(new_database) == [] and not exists(new_database, "inference_logs")
    # AND the database is left as it was: the plain profile then migrates it whole
    again = run_migrate(new_database, "postgres")
    assert again.returncode == 0, again.stderr
    assert "postgres profile" in again.stdout and recorded(new_database)[:2] == ["001_app", "002_logs"]


@requires_timescale()
def test_forcing_timescale_creates_the_extension_and_is_safe_to_rerun(new_database: str) -> None:
    for _ in range(2):
        done = run_migrate(new_database, "timescale")
        assert done.returncode == 0, done.stderr
        assert "timescale profile" in done.stdout
    with psycopg.connect(new_database) as conn:
        assert conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'").fetchone() == (1,)
        assert conn.execute("SELECT DISTINCT profile FROM schema_migrations").fetchall() == [("timescale",)]


def test_a_database_keeps_its_profile_and_an_unknown_profile_is_refused(new_database: str) -> None:
    with pytest.raises(ConfigError, match="expected one of auto, postgres, timescale"):
        migrate(new_database, profile="timscale")
    assert recorded(new_database) == []
    migrate(new_database, profile="postgres")
    with pytest.raises(ConfigError, match="migrated with the postgres profile"):
        migrate(new_database, profile="timescale")
    assert migrate(new_database) == "postgres"  # auto: whatever it was made with


# --- a migration that fails part-way ------------------------------------------------------------


@pytest.mark.parametrize("marker", ["", "-- prism:no-transaction\n"], ids=["one-string", "statement-by-statement"])
def test_a_migration_failing_midway_leaves_nothing_and_rerunning_completes(
    new_database: str, tmp_path: Path, marker: str
) -> None:
    # GIVEN the real migrations and one more whose last statement fails
    folder = tmp_path / "migrations"
    shutil.copytree(Path(str(resources.files("prism") / "migrations")), folder)
    broken = folder / "900_broken.sql"
    head = marker + "CREATE TABLE broken_first (x int);\nINSERT INTO broken_first VALUES (1);\n"
    broken.write_text(head + "SELECT 1 / 0;\n")
    # WHEN migrate runs
    with pytest.raises(psycopg.errors.DivisionByZero):
        migrate(new_database, profile="postgres", folder=folder)
    # THEN the migrations before it are applied and recorded, the broken one not at all
    keys = recorded(new_database)
    assert "007_projects" in keys and "900_broken" not in keys
    assert not exists(new_database, "broken_first")
    # AND once fixed, re-running applies it whole, once
    broken.write_text(head)
    migrate(new_database, profile="postgres", folder=folder)
    migrate(new_database, profile="postgres", folder=folder)
    assert recorded(new_database)[-1] == "900_broken"
    with psycopg.connect(new_database) as conn:
        assert conn.execute("SELECT count(*) FROM broken_first").fetchone() == (1,)


# --- every row in metrics_minute and the histograms, whatever its lateness ------------------------

LATENESS = [
    timedelta(0),
    timedelta(minutes=5),
    timedelta(hours=3, minutes=1),  # beyond the old refresh window (now - 3 h)
    timedelta(days=1, hours=2),
    timedelta(days=5),
    timedelta(days=RETENTION_DAYS - 2),
]


def message(created_at: datetime, **event: Any) -> BusMessage:
    data = encode_record(make_event(**event), created_at, {}, None)
    return BusMessage(f"{uuid.uuid4().int % 10**12}-0", data)


def batch(now: datetime, late: timedelta, n: int) -> list[BusMessage]:
    models = ("gpt-4o-mini", "claude-haiku")
    return [
        message(now - late - timedelta(seconds=7 * i), model=models[i % 2], status="error" if i % 3 == 0 else "ok")
        for i in range(n)
    ]


def assert_rollups_count_every_row(url: str) -> None:
    with psycopg.connect(url) as conn:
        rows, ttft, latency = conn.execute(
            "SELECT count(*), count(ttft_ms), coalesce(sum(latency_ms), 0) FROM inference_logs"
        ).fetchone()  # type: ignore[misc]
        by_key = conn.execute(
            "SELECT project, model, status, count(*) FROM inference_logs GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
        ).fetchall()
        rolled = conn.execute(
            "SELECT project, model, status, sum(requests)::bigint FROM metrics_minute GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
        ).fetchall()
        summed = conn.execute("SELECT coalesce(sum(latency_ms_sum), 0) FROM metrics_minute").fetchone()
        assert rolled == by_key
        assert summed is not None and summed[0] == pytest.approx(latency)
        for level in ("minute", "hour", "day"):
            table = sql.Identifier(f"latency_hist_{level}")
            query = sql.SQL("SELECT metric, sum(c)::bigint FROM {}, unnest(n) AS c GROUP BY 1").format(table)
            counts: dict[str, int] = dict(conn.execute(query).fetchall())
            assert counts.get("latency", 0) == rows and counts.get("ttft", 0) == ttft, level
    assert rows > 0


@pytest.mark.parametrize("profile", profiles())
def test_metrics_minute_counts_every_row_whatever_its_lateness(migrated: str, profile: str) -> None:
    store = PostgresLogStore(migrated, retention_days=RETENTION_DAYS)
    writer = RecordWriter(store)
    try:
        # GIVEN rows written on time, and the aggregate materialised past them (Timescale)
        now = datetime.now(UTC)
        assert writer.handle(batch(now, timedelta(0), 20)).written == 20
        settle_rollup(migrated)
        assert_rollups_count_every_row(migrated)
        # WHEN rows arrive late, by any lateness within retention (a backlog, a spool, a replay)
        for late in LATENESS:
            outcome = writer.handle(batch(datetime.now(UTC), late, 9))
            assert (outcome.written, outcome.expired, outcome.failed) == (9, 0, {}), late
        # THEN one refresh interval later (one run of the refresh policy) every row is counted
        settle_rollup(migrated)
        assert_rollups_count_every_row(migrated)
    finally:
        store.close()


@pytest.mark.parametrize("profile", profiles())
def test_maintenance_refreshes_what_late_rows_invalidated(migrated: str, profile: str) -> None:
    with psycopg.connect(migrated, autocommit=True) as conn:
        if profile == "timescale":  # nothing but maintenance refreshes here
            conn.execute("SELECT remove_continuous_aggregate_policy('metrics_minute')")
    store = PostgresLogStore(migrated, retention_days=RETENTION_DAYS)
    writer = RecordWriter(store)
    try:
        now = datetime.now(UTC)
        writer.handle(batch(now, timedelta(0), 10))
        assert store.maintain().get("rollup_refreshed", True)
        writer.handle(batch(now, timedelta(days=2), 10) + batch(now, timedelta(hours=4), 10))
        result = store.maintain()
        assert ("rollup_refreshed" in result) == (profile == "timescale")
        assert result.get("rollup_refreshed", True) is True
        assert_rollups_count_every_row(migrated)
    finally:
        store.close()


@requires_timescale()
@pytest.mark.parametrize("profile", ["timescale"])
def test_later_inserts_into_a_compressed_chunk_are_counted(migrated: str, profile: str) -> None:
    store = PostgresLogStore(migrated, retention_days=RETENTION_DAYS)
    writer = RecordWriter(store)
    try:
        now = datetime.now(UTC)
        first = batch(now, timedelta(days=10), 12)
        assert writer.handle(first).written == 12
        with psycopg.connect(migrated, autocommit=True) as conn:
            compressed = conn.execute(
                "SELECT compress_chunk(c) FROM show_chunks('inference_logs', older_than => now() - INTERVAL '9 days') c"
            ).fetchall()
        assert compressed
        # WHEN more rows of that day arrive, with a re-delivery of one already stored
        outcome = writer.handle(batch(now, timedelta(days=10, minutes=3), 5) + first[:1])
        assert (outcome.written, outcome.duplicates, outcome.failed) == (5, 1, {})
        settle_rollup(migrated)
        assert_rollups_count_every_row(migrated)
    finally:
        store.close()


# --- rows older than retention: one rule --------------------------------------------------------


@pytest.mark.parametrize("profile", profiles())
def test_rows_older_than_retention_are_counted_as_dropped_not_failed(migrated: str, profile: str) -> None:
    store = PostgresLogStore(migrated, retention_days=RETENTION_DAYS)
    writer = RecordWriter(store)
    since = store.retained_since()
    assert since == retention_start(datetime.now(UTC).date(), RETENTION_DAYS)
    try:
        now = datetime.now(UTC)
        old = [*batch(now, timedelta(days=RETENTION_DAYS + 15), 3), message(since - timedelta(microseconds=1))]
        outcome = writer.handle(old + batch(now, timedelta(0), 2) + [message(since)])
        assert (outcome.written, outcome.expired, outcome.failed) == (3, 4, {})
        with psycopg.connect(migrated) as conn:
            assert conn.execute("SELECT min(created_at) FROM inference_logs").fetchone() == (since,)
            if profile == "timescale":  # no chunk made for them, to be dropped by the next retention run
                chunks = conn.execute("SELECT count(*) FROM show_chunks('inference_logs', older_than => %s)", (since,))
            else:
                chunks = conn.execute(
                    "SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                    " WHERE i.inhparent = 'inference_logs'::regclass AND c.relname < %s",
                    (f"inference_logs_p{since:%Y%m%d}",),
                )
            assert chunks.fetchone() == (0,)
        assert_rollups_count_every_row(migrated)
    finally:
        store.close()


def test_the_writer_acknowledges_expired_rows_without_dead_lettering_them(
    clean_database: str, redis_url: str, stream_name: str, aws_endpoint: str
) -> None:
    now = datetime.now(UTC)
    expired = encode_record(make_event(), now - timedelta(days=RETENTION_DAYS + 5), {}, None)
    good = [encode_record(make_event(), now, {}, None) for _ in range(2)]
    client = redis.Redis.from_url(redis_url)
    env = {"PRISM_WRITER_MAX_DELIVERIES": "2", "PRISM_WRITER_CLAIM_IDLE_MS": "300"}
    env["PRISM_RETENTION_DAYS"] = str(RETENTION_DAYS)
    with Stack(clean_database, redis_url, stream_name, aws_endpoint, env=env) as stack:
        client.xadd(stream_name, {b"b": b"\n".join([good[0], expired, good[1]])})
        stack.wait_for_rows(2)
        deadline = time.monotonic() + 30
        while "older than retention" not in stack.logs("writer") and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)  # a reclaim would re-deliver a failed record by now
        assert "1 row(s) older than retention" in stack.logs("writer")
        assert client.xpending(stream_name, "cg-writer")["pending"] == 0
        assert client.xlen(f"{stream_name}:dead") == 0 and stack.count_rows() == 2
    assert "expired=1" in stack.logs("writer") and "dead_lettered=0" in stack.logs("writer")
    client.close()


# --- Timescale's own: retention and the refresh policy follow PRISM_RETENTION_DAYS ----------------


@requires_timescale()
@pytest.mark.parametrize("profile", ["timescale"])
def test_retention_and_the_refresh_window_follow_the_setting(migrated: str, profile: str) -> None:
    store = PostgresLogStore(migrated, retention_days=RETENTION_DAYS)
    try:
        assert RecordWriter(store).handle(batch(datetime.now(UTC), timedelta(days=20), 4)).written == 4
    finally:
        store.close()
    migrate(migrated, retention_days=10)
    with psycopg.connect(migrated, autocommit=True) as conn:
        jobs: dict[str, dict[str, Any]] = dict(
            conn.execute(
                "SELECT proc_name, config FROM timescaledb_information.jobs"
                " WHERE proc_name IN ('policy_refresh_continuous_aggregate', 'policy_retention')"
                " AND (hypertable_name = 'inference_logs' OR proc_name = 'policy_refresh_continuous_aggregate')"
            ).fetchall()
        )
        assert jobs["policy_refresh_continuous_aggregate"]["start_offset"] == "10 days"
        assert jobs["policy_retention"]["drop_after"] == "10 days"
        (job,) = conn.execute(  # type: ignore[misc]
            "SELECT job_id FROM timescaledb_information.jobs"
            " WHERE proc_name = 'policy_retention' AND hypertable_name = 'inference_logs'"
        ).fetchone()
        conn.execute("CALL run_job(%s)", (job,))
        assert conn.execute("SELECT count(*) FROM inference_logs").fetchone() == (0,)


# --- a refresh that finds another one running ---------------------------------------------------
# TimescaleDB answers ``CALL refresh_continuous_aggregate`` with lock_not_available (55P03) while
# its policy job (or another writer) refreshes the same aggregate. Without the extension, a stand-in
# procedure of the same name raises the very same server error from a real lock held by another
# session, so the tolerance is tested here on both profiles' servers.

STAND_IN = """
CREATE TABLE cagg_refresh_lock ();
CREATE PROCEDURE refresh_continuous_aggregate(cagg text, window_start timestamptz, window_end timestamptz)
LANGUAGE plpgsql AS $$ BEGIN LOCK TABLE cagg_refresh_lock IN ACCESS EXCLUSIVE MODE NOWAIT; END $$;
"""


@pytest.fixture
def refresh_stand_in(new_database: str) -> str:
    if timescale_missing() is None:
        pytest.skip("the test server has TimescaleDB: its own refresh_continuous_aggregate is tested above")
    migrate(new_database, profile="postgres", retention_days=RETENTION_DAYS)
    with psycopg.connect(new_database, autocommit=True) as conn:
        conn.execute(STAND_IN)
    return new_database


def test_a_refresh_skips_when_another_holds_the_aggregate_and_runs_when_free(refresh_stand_in: str) -> None:
    from prism.adapters.postgres import refresh_rollup

    start, end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)
    with psycopg.connect(refresh_stand_in, autocommit=True) as conn:
        assert refresh_rollup(conn, start, end) is True
        with psycopg.connect(refresh_stand_in) as holder:
            holder.execute("LOCK TABLE cagg_refresh_lock IN ACCESS EXCLUSIVE MODE")  # the policy's refresh
            assert refresh_rollup(conn, start, end) is False  # skipped, not raised
        assert refresh_rollup(conn, start, end) is True  # the holder committed: free again


def test_a_migration_s_deferred_refresh_is_skipped_while_another_runs_and_the_file_stays_applied(
    refresh_stand_in: str,
) -> None:
    from prism.adapters.postgres import _apply

    text = (
        "-- prism:no-transaction\n"
        "CREATE TABLE late_marker (id int);\n"
        "CALL refresh_continuous_aggregate('metrics_minute', NULL, NULL);\n"
    )
    with psycopg.connect(refresh_stand_in, autocommit=True) as conn, psycopg.connect(refresh_stand_in) as holder:
        holder.execute("LOCK TABLE cagg_refresh_lock IN ACCESS EXCLUSIVE MODE")
        _apply(conn, "999_late_marker", "999_late_marker.sql", text, "postgres")
    assert exists(refresh_stand_in, "late_marker")
    assert "999_late_marker" in recorded(refresh_stand_in)
