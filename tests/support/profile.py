"""The storage profile the tests run on: ``PRISM_TEST_PROFILE`` (``postgres``, the default, or
``timescale``) against the server of ``PRISM_TEST_PG``. Timescale-only tests are marked
``requires_timescale`` and skipped, with the reason, where the server lacks the extension.

    PRISM_TEST_PROFILE=timescale PRISM_TEST_PG=postgresql://postgres@127.0.0.1:5433/postgres \\
        ./scripts/uv run --frozen pytest -q tests
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

import pytest

PG_ADMIN = os.environ.get("PRISM_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
TEST_PROFILE = os.environ.get("PRISM_TEST_PROFILE", "postgres")
if TEST_PROFILE not in ("postgres", "timescale"):
    raise RuntimeError(f"PRISM_TEST_PROFILE={TEST_PROFILE!r}: expected postgres or timescale")


@cache
def timescale_missing() -> str | None:
    """Why the Timescale-only tests cannot run on ``PRISM_TEST_PG`` (None: they can)."""
    import psycopg

    try:
        with psycopg.connect(PG_ADMIN, connect_timeout=3) as conn:
            if conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'").fetchone() is None:
                return f"the server of PRISM_TEST_PG ({_where()}) has no timescaledb extension"
            try:  # what migrate does (it fails where the library is not preloaded), undone
                with conn.transaction(force_rollback=True):
                    conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
            except psycopg.Error as exc:
                why = f"cannot be enabled ({exc}): is it in shared_preload_libraries?"
                return f"timescaledb is installed on {_where()} but {why}"
    except psycopg.Error as exc:
        return f"cannot reach PRISM_TEST_PG ({_where()}): {exc}"
    return None


def _where() -> str:
    import psycopg

    info = psycopg.conninfo.conninfo_to_dict(PG_ADMIN)
    return f"{info.get('host', 'localhost')}:{info.get('port', 5432)}"


def requires_timescale() -> pytest.MarkDecorator:
    """Skip unless the test server has TimescaleDB (checked once, at collection)."""
    reason = timescale_missing()
    return pytest.mark.skipif(reason is not None, reason=f"TimescaleDB-only: {reason}")


def profiles() -> list[Any]:
    """``@pytest.mark.parametrize("profile", profiles())``: a test on plain PostgreSQL always, and on
    TimescaleDB where the test server has it (skipped with the reason where not)."""
    return ["postgres", pytest.param("timescale", marks=requires_timescale())]


def settle_rollup(dsn: str) -> None:
    """What one run of the refresh policy does, now (TimescaleDB; nothing to do on plain
    PostgreSQL, whose writer rolls up in its own transaction): re-materialise every bucket of
    ``metrics_minute`` late rows invalidated, through the policy's own job."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        if conn.execute("SELECT profile FROM schema_migrations LIMIT 1").fetchone() != ("timescale",):
            return
        # jobs.hypertable_name of a refresh policy: the aggregate's materialization hypertable
        # before TimescaleDB 2.22 or so, the aggregate's own name since (COALESCE(user_view_name, ...))
        (job,) = conn.execute(  # type: ignore[misc]
            "SELECT j.job_id FROM timescaledb_information.jobs j"
            " JOIN timescaledb_information.continuous_aggregates a ON j.hypertable_name"
            " IN (a.view_name, a.materialization_hypertable_name)"
            " WHERE j.proc_name = 'policy_refresh_continuous_aggregate' AND a.view_name = 'metrics_minute'"
        ).fetchone()
        conn.execute("CALL run_job(%s)", (job,))
