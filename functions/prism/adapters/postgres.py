"""PostgreSQL / TimescaleDB adapter: migrations, the LogStore, partition maintenance."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from importlib.resources.abc import Traversable
from operator import attrgetter
from typing import Any, Literal

import psycopg
import sqlparse
from psycopg import errors as pgerrors
from psycopg import sql

from prism.adapters.postgres_pool import check_alive
from prism.clock import Clock, utc_now, utc_today
from prism.errors import ConfigError, StoreError
from prism.records import LOG_COLUMNS, TOOL_COLUMNS, BadRecordError, LogRow

log = logging.getLogger(__name__)

Profile = Literal["postgres", "timescale"]
PARTITIONED = ("inference_logs", "tool_invocations")
_MIGRATION = re.compile(r"^(?P<key>\d{3}_[a-z0-9_]+?)(?:\.(?P<profile>postgres|timescale))?\.sql$")
_PARTITION = re.compile(r"^(?P<table>[a-z_]+)_p(?P<day>\d{8})$")
_MIGRATE_LOCK = 0x5052_4953  # "PRIS"
_PARTITION_LOCK = 0x5052_4950  # serialises partition creation across writers and migrate


def connect(dsn: str, **kwargs: Any) -> psycopg.Connection[Any]:
    """A connection to ``dsn`` (as its secret holds it now, when it came from one: prism.secrets)."""
    from prism import secrets

    current = secrets.default_cache().current_dsn(dsn)
    try:
        return psycopg.connect(current, **kwargs)
    except psycopg.OperationalError as exc:
        if secrets.is_auth_failure(exc):
            secrets.default_cache().forget_dsn(current)
        raise StoreError(f"cannot connect to PostgreSQL: {exc}".strip()) from exc


def ensure_database(dsn: str) -> None:
    """Create the database named in ``dsn`` if it does not exist (local runs and tests)."""
    info = psycopg.conninfo.conninfo_to_dict(dsn)
    name = str(info.get("dbname") or "postgres")
    admin = psycopg.conninfo.make_conninfo(dsn, dbname="postgres")
    with connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(dsn: str) -> None:
    info = psycopg.conninfo.conninfo_to_dict(dsn)
    admin = psycopg.conninfo.make_conninfo(dsn, dbname="postgres")
    with connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(str(info["dbname"]))))


PROFILES = ("auto", "postgres", "timescale")
_DEFERRED = re.compile(r"^\s*CALL\s+refresh_continuous_aggregate\b", re.IGNORECASE)


def _detect_profile(conn: psycopg.Connection[Any], wanted: str) -> Profile:
    """The profile of a database not migrated yet. ``timescale`` creates the extension (and fails
    with a ConfigError naming it when the server cannot); ``auto`` uses it when it can be enabled."""
    if wanted not in PROFILES:
        raise ConfigError(f"PRISM_STORAGE_PROFILE={wanted!r}: expected one of {', '.join(PROFILES)}")
    if wanted == "postgres":
        return "postgres"
    available = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'").fetchone()
    if available is None and wanted == "timescale":
        raise ConfigError(
            "PRISM_STORAGE_PROFILE=timescale, but this PostgreSQL server does not have the timescaledb "
            "extension (not in pg_available_extensions): install TimescaleDB or use PRISM_STORAGE_PROFILE=postgres"
        )
    if available is None:
        return "postgres"
    try:
        conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    except psycopg.Error as exc:  # available but not preloaded, or not allowed
        if wanted == "timescale":
            raise ConfigError(
                f"PRISM_STORAGE_PROFILE=timescale, but the timescaledb extension cannot be enabled: {exc} "
                "(is it in shared_preload_libraries?)"
            ) from exc
        log.warning("timescaledb is installed but cannot be enabled (%s); using plain PostgreSQL", exc)
        return "postgres"
    return "timescale"


def _apply(conn: psycopg.Connection[Any], key: str, name: str, text: str, profile: Profile) -> None:
    """Apply one migration file and record it, all in one transaction: a file that fails part-way
    leaves nothing behind and no recorded version, so the next run applies it whole. A file marked
    ``-- prism:no-transaction`` is sent one statement at a time (still inside the transaction), and
    its ``CALL refresh_continuous_aggregate(...)`` statements, which TimescaleDB refuses inside any
    transaction, run after the commit: a refresh is idempotent, and migrate refreshes the aggregate
    over the retention window anyway when it ends."""
    deferred: list[str] = []
    with conn.transaction():
        if text.startswith("-- prism:no-transaction"):
            for statement in sqlparse.split(text):
                if not sqlparse.format(statement, strip_comments=True).strip():
                    continue
                if _DEFERRED.match(sqlparse.format(statement, strip_comments=True)):
                    deferred.append(statement)
                else:
                    conn.execute(statement.encode())
        else:
            conn.execute(text.encode())
        conn.execute("INSERT INTO schema_migrations (key, file, profile) VALUES (%s, %s, %s)", (key, name, profile))
    for statement in deferred:
        try:
            conn.execute(statement.encode())
        except pgerrors.LockNotAvailable:  # another refresh is running: it does the same work
            log.info("%s: a refresh of the continuous aggregate is already running; skipped", name)


def migrate(
    dsn: str,
    *,
    profile: str = "auto",
    partitions_ahead_days: int = 3,
    retention_days: int = 30,
    clock: Clock = utc_now,
    until: str | None = None,
    folder: Traversable | None = None,
) -> Profile:
    """Apply pending migrations once each, tracked in ``schema_migrations``. Safe to re-run: each
    file is applied and recorded in one transaction (see ``_apply``). Partitions are made around
    ``clock``'s day. ``until`` (a test of one migration): apply only the migrations whose key sorts
    at or before it (``"006"``: 001 to 006). ``folder`` (tests): the migrations to apply instead of
    the package's. A database keeps the profile it was first migrated with: asking for another one
    is a ConfigError."""
    ensure_database(dsn)
    with connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_MIGRATE_LOCK,))
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " key text PRIMARY KEY, file text NOT NULL, profile text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            row = conn.execute("SELECT profile FROM schema_migrations LIMIT 1").fetchone()
            chosen: Profile = row[0] if row else _detect_profile(conn, profile)
            if profile not in ("auto", chosen):
                raise ConfigError(
                    f"PRISM_STORAGE_PROFILE={profile}, but this database was migrated with the {chosen} profile "
                    "(a database keeps its profile: migrate a new database to change it)"
                )
            applied = {r[0] for r in conn.execute("SELECT key FROM schema_migrations")}
            folder = folder or resources.files("prism") / "migrations"
            for entry in sorted(folder.iterdir(), key=lambda e: e.name):
                m = _MIGRATION.match(entry.name)
                if m is None or m["key"] in applied or (m["profile"] and m["profile"] != chosen):
                    continue
                if until is not None and m["key"][: len(until)] > until:
                    continue
                log.info("applying migration %s", entry.name)
                _apply(conn, m["key"], entry.name, entry.read_text(), chosen)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATE_LOCK,))
    with connect(dsn, autocommit=True) as conn:
        if chosen == "postgres":
            ensure_partitions(conn, utc_today(clock), partitions_ahead_days)
        else:
            timescale_policies(conn, retention_days)
            refresh_rollup(conn, retention_start(utc_today(clock), retention_days), clock() - ROLLUP_LAG)
    return chosen


# --- TimescaleDB: the policies and the continuous aggregate's refresh ----------------------------

ROLLUP_LAG = timedelta(minutes=1)  # metrics_minute is materialised up to now - this (the policy's end_offset)
ROLLUP_EVERY = timedelta(minutes=5)  # the refresh policy's schedule: the bound on a late row's delay


def retention_start(today: date, retention_days: int) -> datetime:
    """The oldest instant either profile keeps: midnight UTC ``retention_days`` before ``today``.
    Plain PostgreSQL keeps the partitions of that day onward; a row older than this is dropped by
    retention (the writer counts it and stores nothing), on both profiles."""
    return datetime.combine(today - timedelta(days=retention_days), datetime.min.time(), UTC)


def timescale_policies(conn: psycopg.Connection[Any], retention_days: int) -> None:
    """Follow PRISM_RETENTION_DAYS on every migrate: the retention policy of both hypertables, and
    the refresh policy of ``metrics_minute``, whose window reaches back as far as retention. Rows
    arrive late (a writer backlog, an SDK spool or a dead-letter replay: ``created_at`` is ingestion
    time); a continuous aggregate re-materialises only the buckets such rows invalidated, so the
    wide window costs a scan of the invalidation log, not of the rows."""
    for table in PARTITIONED:
        conn.execute("SELECT remove_retention_policy(%s, if_exists => true)", (table,))
        conn.execute("SELECT add_retention_policy(%s, make_interval(days => %s))", (table, retention_days))
    conn.execute("SELECT remove_continuous_aggregate_policy('metrics_minute', if_exists => true)")
    conn.execute(
        "SELECT add_continuous_aggregate_policy('metrics_minute', start_offset => make_interval(days => %s),"
        " end_offset => %s, schedule_interval => %s)",
        (retention_days, ROLLUP_LAG, ROLLUP_EVERY),
    )


def refresh_rollup(conn: psycopg.Connection[Any], start: datetime, end: datetime) -> bool:
    """Re-materialise the invalidated buckets of ``metrics_minute`` in [start, end) (TimescaleDB;
    ``conn`` in autocommit: a refresh cannot run inside a transaction). False when another refresh
    (the policy's job, another writer) holds the aggregate: it does the same work."""
    try:
        conn.execute(
            "CALL refresh_continuous_aggregate('metrics_minute', %s::timestamptz, %s::timestamptz)", (start, end)
        )
    except pgerrors.LockNotAvailable:
        log.info("metrics_minute: a refresh is already running; skipped")
        return False
    return True


def profile_of(conn: psycopg.Connection[Any]) -> Profile:
    row = conn.execute("SELECT profile FROM schema_migrations LIMIT 1").fetchone()
    if row is None:
        raise StoreError("database is not migrated: run `make migrate` (python -m prism.migrate)")
    return row[0]  # type: ignore[no-any-return]


def partitions(conn: psycopg.Connection[Any], table: str) -> list[date]:
    rows = conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = %s",
        (table,),
    ).fetchall()
    days = []
    for (name,) in rows:
        m = _PARTITION.match(name)
        if m and m["table"] == table:
            days.append(datetime.strptime(m["day"], "%Y%m%d").date())
    return sorted(days)


def ensure_partitions(conn: psycopg.Connection[Any], today: date, days_ahead: int, back: int = 1) -> int:
    """Create the daily partitions from ``today - back`` to ``today + days_ahead``. Serialised by an
    advisory lock: ``CREATE TABLE IF NOT EXISTS`` alone is not safe against a concurrent creator
    (migrate and a writer catching up can both reach the same day)."""
    conn.execute("SELECT pg_advisory_lock(%s)", (_PARTITION_LOCK,))
    try:
        return _create_partitions(conn, today, days_ahead, back)
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (_PARTITION_LOCK,))


def _create_partitions(conn: psycopg.Connection[Any], today: date, days_ahead: int, back: int) -> int:
    made = 0
    for table in PARTITIONED:
        existing = set(partitions(conn, table))
        for offset in range(-back, days_ahead + 1):
            day = today + timedelta(days=offset)
            if day in existing:
                continue
            name = f"{table}_p{day:%Y%m%d}"
            conn.execute(
                sql.SQL("CREATE TABLE IF NOT EXISTS {} PARTITION OF {} FOR VALUES FROM ({}) TO ({})").format(
                    sql.Identifier(name),
                    sql.Identifier(table),
                    sql.Literal(f"{day.isoformat()} 00:00:00+00"),
                    sql.Literal(f"{(day + timedelta(days=1)).isoformat()} 00:00:00+00"),
                )
            )
            made += 1
    return made


def drop_expired_partitions(conn: psycopg.Connection[Any], today: date, retention_days: int) -> list[str]:
    """Drop whole daily partitions older than the retention window; returns their names."""
    cutoff = today - timedelta(days=retention_days)
    dropped = []
    for table in PARTITIONED:
        for day in partitions(conn, table):
            if day < cutoff:
                name = f"{table}_p{day:%Y%m%d}"
                conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(name)))
                dropped.append(name)
    return dropped


_COPY_LOGS = sql.SQL("COPY _batch_logs ({}) FROM STDIN").format(sql.SQL(", ").join(map(sql.Identifier, LOG_COLUMNS)))
_COPY_TOOLS = sql.SQL("COPY _batch_tools ({}) FROM STDIN").format(sql.SQL(", ").join(map(sql.Identifier, TOOL_COLUMNS)))
_log_values = attrgetter(*LOG_COLUMNS)  # a row's values in column order, in C
_tool_values = attrgetter(*TOOL_COLUMNS)
_LOG_COLS = sql.SQL(", ").join(map(sql.Identifier, LOG_COLUMNS))
_TOOL_COLS = sql.SQL(", ").join(map(sql.Identifier, TOOL_COLUMNS))

# One statement: claim ids, insert the new rows and their tools, (plain profile) roll the new rows
# into metrics_minute, and count them into the latency histograms (every series keyed by project
# too). Keys are locked in a fixed order so concurrent writers cannot deadlock.
_CLAIM_AND_INSERT = sql.SQL(
    """
WITH batch AS (
    SELECT DISTINCT ON (id) * FROM _batch_logs ORDER BY id, created_at
), claimed AS (
    INSERT INTO inference_event_ids (id, created_at)
    SELECT id, created_at FROM batch ORDER BY id
    ON CONFLICT (id) DO NOTHING
    RETURNING id, created_at
), rows AS (
    INSERT INTO inference_logs ({cols})
    SELECT {bcols} FROM batch b JOIN claimed c ON c.id = b.id AND c.created_at = b.created_at
    RETURNING created_at, project, model, provider, status, latency_ms, ttft_ms,
              prompt_tokens, completion_tokens, total_tokens, cost_usd
), tools AS (
    INSERT INTO tool_invocations ({tcols})
    SELECT {ttcols} FROM _batch_tools t JOIN claimed c ON c.id = t.inference_id AND c.created_at = t.created_at
    RETURNING 1
) {rollup}
"""
)
_ROLLUP = sql.SQL(
    """
, rolled AS (
    INSERT INTO metrics_minute AS m (bucket, project, model, provider, status, requests, errors, latency_ms_sum,
        latency_ms_max, ttft_ms_sum, ttft_count, prompt_tokens, completion_tokens, total_tokens, cost_usd, unpriced)
    SELECT date_trunc('minute', created_at), project, model, provider, status, count(*),
           count(*) FILTER (WHERE status = 'error'), sum(latency_ms), max(latency_ms),
           coalesce(sum(ttft_ms), 0), count(ttft_ms), coalesce(sum(prompt_tokens), 0),
           coalesce(sum(completion_tokens), 0), coalesce(sum(total_tokens), 0), coalesce(sum(cost_usd), 0),
           count(*) - count(cost_usd)
    FROM rows GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (bucket, project, model, provider, status) DO UPDATE SET
        requests = m.requests + EXCLUDED.requests,
        errors = m.errors + EXCLUDED.errors,
        latency_ms_sum = m.latency_ms_sum + EXCLUDED.latency_ms_sum,
        latency_ms_max = greatest(m.latency_ms_max, EXCLUDED.latency_ms_max),
        ttft_ms_sum = m.ttft_ms_sum + EXCLUDED.ttft_ms_sum,
        ttft_count = m.ttft_count + EXCLUDED.ttft_count,
        prompt_tokens = m.prompt_tokens + EXCLUDED.prompt_tokens,
        completion_tokens = m.completion_tokens + EXCLUDED.completion_tokens,
        total_tokens = m.total_tokens + EXCLUDED.total_tokens,
        cost_usd = m.cost_usd + EXCLUDED.cost_usd,
        unpriced = m.unpriced + EXCLUDED.unpriced
    RETURNING 1
)
"""
)
# Both profiles: the latency/TTFT histograms (migration 004), per minute, hour and day, one row per
# series holding its buckets and counts; an existing row is merged with the batch's.
_HIST_UPSERT = """
), hist_{level} AS (
    INSERT INTO latency_hist_{level} AS h (bucket, project, model, provider, status, metric, idx, n)
    SELECT bucket, project, model, provider, status, metric, array_agg(idx ORDER BY idx), array_agg(c ORDER BY idx)
    FROM per_{level} GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6
    ON CONFLICT (bucket, project, model, provider, status, metric) DO UPDATE
    SET (idx, n) = (SELECT m.idx, m.n FROM prism_hist_merge(h.idx, h.n, EXCLUDED.idx, EXCLUDED.n) AS m)
    RETURNING 1"""
_HISTOGRAMS = sql.SQL("").join(
    [
        sql.SQL(
            """
, hist AS (
    SELECT date_trunc('minute', created_at) AS bucket, project, model, provider, status, 'latency' AS metric,
           prism_hist_bucket(latency_ms) AS idx
    FROM rows
    UNION ALL
    SELECT date_trunc('minute', created_at), project, model, provider, status, 'ttft', prism_hist_bucket(ttft_ms)
    FROM rows WHERE ttft_ms IS NOT NULL
), per_minute AS (
    SELECT bucket, project, model, provider, status, metric, idx, count(*) AS c FROM hist GROUP BY 1, 2, 3, 4, 5, 6, 7
), per_hour AS (
    SELECT date_trunc('hour', bucket, 'UTC') AS bucket, project, model, provider, status, metric, idx,
           sum(c)::bigint AS c
    FROM per_minute GROUP BY 1, 2, 3, 4, 5, 6, 7
), per_day AS (
    SELECT date_trunc('day', bucket, 'UTC') AS bucket, project, model, provider, status, metric, idx,
           sum(c)::bigint AS c
    FROM per_hour GROUP BY 1, 2, 3, 4, 5, 6, 7"""
        ),
        *(sql.SQL(_HIST_UPSERT).format(level=sql.SQL(level)) for level in ("minute", "hour", "day")),
        sql.SQL("\n)\nSELECT (SELECT count(*) FROM rows)\n"),
    ]
)


class PostgresLogStore:
    """LogStore over one connection (the writer is one process per connection)."""

    def __init__(
        self,
        dsn: str,
        *,
        partitions_ahead_days: int = 3,
        retention_days: int = 30,
        minute_histogram_days: int = 2,
        clock: Clock = utc_now,
    ) -> None:
        self._dsn = dsn
        self._clock = clock
        self._ahead = partitions_ahead_days
        self._retention = retention_days
        self._minute_histograms = minute_histogram_days
        self._conn: psycopg.Connection[Any] | None = None
        self._statement: sql.Composed | None = None
        self.profile: Profile | None = None

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is not None:
            try:  # PostgreSQL restarted since the last batch: reconnect now rather than fail this one
                check_alive(self._conn)
            except psycopg.Error as exc:
                log.info("PostgreSQL connection lost while idle (%s); reconnecting", type(exc).__name__)
                self.close()
        if self._conn is None or self._conn.closed or self._conn.broken:
            conn = connect(self._dsn)
            try:
                self.profile = profile_of(conn)
                conn.execute(
                    "CREATE TEMP TABLE _batch_logs (LIKE inference_logs INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
                )
                conn.execute(
                    "CREATE TEMP TABLE _batch_tools (LIKE tool_invocations INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
                )
                conn.commit()
            except BaseException:
                conn.close()
                raise
            rollup = sql.Composed([_ROLLUP, _HISTOGRAMS]) if self.profile == "postgres" else _HISTOGRAMS
            bcols = sql.SQL(", ").join(sql.SQL("b.") + sql.Identifier(c) for c in LOG_COLUMNS)
            ttcols = sql.SQL(", ").join(sql.SQL("t.") + sql.Identifier(c) for c in TOOL_COLUMNS)
            self._statement = _CLAIM_AND_INSERT.format(
                cols=_LOG_COLS, bcols=bcols, tcols=_TOOL_COLS, ttcols=ttcols, rollup=rollup
            )
            self._conn = conn
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def ping(self) -> None:
        try:
            with connect(self._dsn, connect_timeout=3) as conn:
                profile_of(conn)
        except psycopg.Error as exc:
            raise StoreError(f"PostgreSQL: {exc}") from exc

    def write(self, rows: Sequence[LogRow]) -> int:
        """Write rows in one transaction; returns the number of new rows (re-deliveries add none)."""
        if not rows:
            return 0
        try:
            try:
                return self._write(rows)
            except pgerrors.CheckViolation as exc:
                if "no partition" not in str(exc):
                    raise
                # A row for a day with no partition (the writer was down for days, or a clock
                # jumped): create the partitions of the batch's days still inside retention and
                # retry once. Rows older than retention fail again (the RecordWriter does not send
                # them: it counts them as dropped by retention).
                self._partitions_for(rows)
                return self._write(rows)
        except (psycopg.DataError, psycopg.IntegrityError) as exc:
            raise BadRecordError(f"{type(exc).__name__}: {exc}") from exc
        except psycopg.Error as exc:
            # Connection lost, schema missing or half-migrated, server shutting down: not the
            # rows' fault. Nothing is acked; the batch is retried until the database is back.
            self.close()
            raise StoreError(f"PostgreSQL: {type(exc).__name__}: {exc}") from exc

    def _write(self, rows: Sequence[LogRow]) -> int:
        conn = self._connection()
        assert self._statement is not None
        try:
            with conn.cursor() as cur:
                with cur.copy(_COPY_LOGS) as copy:
                    for row in rows:
                        copy.write_row(_log_values(row))
                if any(row.tools for row in rows):
                    with cur.copy(_COPY_TOOLS) as copy:
                        for row in rows:
                            for tool in row.tools:
                                copy.write_row(_tool_values(tool))
                cur.execute(self._statement)
                result = cur.fetchone()
            conn.commit()
        except BaseException:
            if not conn.closed:
                conn.rollback()
            raise
        return int(result[0]) if result else 0

    def _partitions_for(self, rows: Sequence[LogRow]) -> None:
        day = utc_today(self._clock)
        oldest = day - timedelta(days=self._retention)
        days = sorted({r.created_at.astimezone(UTC).date() for r in rows} | {day})
        with connect(self._dsn, autocommit=True) as conn:
            if profile_of(conn) != "postgres":
                return
            for missing in days:
                if oldest <= missing:
                    ensure_partitions(conn, missing, 0, back=0)
            ensure_partitions(conn, day, self._ahead)

    def retained_since(self) -> datetime:
        """The oldest ``created_at`` kept (``retention_start`` of the store's clock's day)."""
        return retention_start(utc_today(self._clock), self._retention)

    def maintain(self) -> dict[str, Any]:
        """Create partitions ahead and drop expired ones (plain profile) or refresh what late rows
        invalidated in ``metrics_minute`` over the whole retention window (TimescaleDB, besides its
        policy); prune old idempotency ids. "Today" is the store's clock's day."""
        day = utc_today(self._clock)
        with connect(self._dsn, autocommit=True) as conn:
            profile = profile_of(conn)
            made, dropped = 0, []
            refreshed: dict[str, Any] = {}
            if profile == "postgres":
                made = ensure_partitions(conn, day, self._ahead)
                dropped = drop_expired_partitions(conn, day, self._retention)
            else:
                refreshed["rollup_refreshed"] = refresh_rollup(
                    conn, retention_start(day, self._retention), self._clock() - ROLLUP_LAG
                )
            cutoff = datetime.combine(day - timedelta(days=self._retention + 1), datetime.min.time(), UTC)
            pruned = conn.execute("DELETE FROM inference_event_ids WHERE created_at < %s", (cutoff,)).rowcount
            # The rollups keep as long as the rows they sum; the per-minute histograms less long (the
            # per-hour ones serve older windows).
            minutes_cutoff = datetime.combine(day - timedelta(days=self._minute_histograms), datetime.min.time(), UTC)
            cutoffs = {"latency_hist_minute": minutes_cutoff, "latency_hist_hour": cutoff, "latency_hist_day": cutoff}
            if profile == "postgres":
                cutoffs["metrics_minute"] = cutoff
            rolled = 0
            for table, before in cutoffs.items():
                rolled += conn.execute(
                    sql.SQL("DELETE FROM {} WHERE bucket < %s").format(sql.Identifier(table)), (before,)
                ).rowcount
        return {
            "partitions_created": made,
            "partitions_dropped": dropped,
            "ids_pruned": pruned,
            "rollup_rows_pruned": rolled,
            **refreshed,
        }
