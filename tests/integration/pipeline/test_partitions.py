"""Plain-PostgreSQL profile: daily partitions are created ahead and expired ones dropped."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest
from prism.adapters.postgres import PostgresLogStore, drop_database, migrate, partitions
from prism.records import BadRecordError, LogRow

from tests.conftest import _db_url
from tests.support.clock import TestClock


@pytest.fixture
def dated_database() -> Iterator[str]:
    """A database of its own: its partitions are made by the test's clock, not by the day it runs."""
    url = _db_url(f"prism_test_dated_{uuid.uuid4().hex[:10]}")
    yield url
    drop_database(url)


@pytest.mark.clock
def test_partitions_are_created_ahead_and_expired_ones_dropped(dated_database: str) -> None:
    # GIVEN a system first migrated 40 days before "today" (2026-11-27)
    clock = TestClock.on(date(2026, 10, 18))
    migrate(dated_database, profile="postgres", partitions_ahead_days=3, clock=clock)
    store = PostgresLogStore(dated_database, partitions_ahead_days=3, retention_days=30, clock=clock)
    with psycopg.connect(dated_database, autocommit=True) as conn:
        store.maintain()
        assert partitions(conn, "inference_logs") == [date(2026, 10, d) for d in range(17, 22)]
        old_id = "11111111-1111-4111-8111-111111111111"
        conn.execute(
            "INSERT INTO inference_event_ids VALUES (%s, %s)", (old_id, datetime(2026, 10, 18, 12, tzinfo=UTC))
        )
        conn.execute(
            "INSERT INTO metrics_minute VALUES (%s, 'm', 'p', 'ok', 1, 0, 1, 1, 0, 0, 0, 0, 0, 0)",
            (datetime(2026, 10, 18, 12, tzinfo=UTC),),
        )
        # WHEN maintenance runs 40 days later
        clock.advance(days=40)
        result = store.maintain()
        days = partitions(conn, "inference_logs")
        # THEN partitions exist through today + 3 days, and those older than 30 days are gone
        assert {date(2026, 11, d) for d in (27, 28, 29, 30)} <= set(days)
        assert all(d >= date(2026, 10, 28) for d in days)
        assert "inference_logs_p20261018" in result["partitions_dropped"]
        assert "tool_invocations_p20261018" in result["partitions_dropped"]
        assert partitions(conn, "tool_invocations")[-1] == date(2026, 11, 30)
        assert conn.execute("SELECT count(*) FROM inference_event_ids WHERE id = %s", (old_id,)).fetchone() == (0,)
        assert result["rollup_rows_pruned"] >= 1
    store.close()


@pytest.mark.clock
@pytest.mark.parametrize("day", [date(2028, 2, 29), date(2026, 12, 31), date(2027, 2, 28)])
def test_partitions_follow_the_clock_across_month_year_and_leap_days(dated_database: str, day: date) -> None:
    clock = TestClock.on(day, hour=23)
    migrate(dated_database, profile="postgres", partitions_ahead_days=3, clock=clock)
    store = PostgresLogStore(dated_database, partitions_ahead_days=3, retention_days=30, clock=clock)
    with psycopg.connect(dated_database, autocommit=True) as conn:
        expected = [day + timedelta(days=i) for i in range(-1, 4)]
        assert partitions(conn, "inference_logs") == expected
        # a row at the last second of the day lands in the day's partition, one just after in the next
        end_of_day = datetime(day.year, day.month, day.day, 23, 59, 59, 999999, tzinfo=UTC)
        assert store.write([_row(end_of_day), _row(end_of_day + timedelta(microseconds=1))]) == 2
        counts = conn.execute(
            "SELECT tableoid::regclass::text, count(*) FROM inference_logs GROUP BY 1 ORDER BY 1"
        ).fetchall()
        assert counts == [(f"inference_logs_p{d:%Y%m%d}", 1) for d in (day, day + timedelta(days=1))]
    store.close()


def test_migrations_are_tracked_and_rerunnable(database_url: str) -> None:
    assert migrate(database_url) == "postgres"
    with psycopg.connect(database_url) as conn:
        keys = [r[0] for r in conn.execute("SELECT key FROM schema_migrations ORDER BY key")]
    assert keys[:3] == ["001_app", "002_logs", "003_event_ids"]


def _row(created_at: datetime) -> LogRow:
    from prism.records import to_row

    record = {"created_at": created_at.isoformat(), "redactions": {}, "raw_payload_uri": None}
    event = {
        "id": str(uuid.uuid4()),
        "ts_start": created_at.isoformat(),
        "ts_end": created_at.isoformat(),
        "provider": "openai",
        "model": "m",
        "status": "ok",
    }
    return to_row(record, event)


def test_rows_for_days_without_a_partition_get_one_or_are_refused(database_url: str) -> None:
    # GIVEN a writer that was down for 10 days: its backlog's days have no partition
    store = PostgresLogStore(database_url, partitions_ahead_days=3, retention_days=30)
    ten_days_ago = datetime.now(UTC) - timedelta(days=10)
    with psycopg.connect(database_url, autocommit=True) as conn:
        assert ten_days_ago.date() not in partitions(conn, "inference_logs")
    # WHEN it writes them THEN the partition is made and the rows land
    assert store.write([_row(ten_days_ago)]) == 1
    # and the store alone refuses rows older than retention as bad records, not a crash (the
    # RecordWriter never sends them: it counts them as expired, tests/unit/pipeline/test_retention_rule.py)
    with pytest.raises(BadRecordError):
        store.write([_row(datetime.now(UTC) - timedelta(days=45))])
    store.close()


def test_concurrent_partition_creation_does_not_collide(database_url: str) -> None:
    # GIVEN migrate and several writers catching up, all reaching the same missing days at once
    import threading

    from prism.adapters.postgres import ensure_partitions

    day = date(2027, 3, 1) + timedelta(days=int(datetime.now(UTC).timestamp()) % 300)  # days no other test made
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def create() -> None:
        try:
            with psycopg.connect(database_url, autocommit=True) as conn:
                barrier.wait()
                ensure_partitions(conn, day, 6, back=0)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=create) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    # THEN every day exists once and nobody failed
    assert errors == []
    with psycopg.connect(database_url) as conn:
        made = [d for d in partitions(conn, "inference_logs") if day <= d <= day + timedelta(days=6)]
    assert made == [day + timedelta(days=i) for i in range(7)]
