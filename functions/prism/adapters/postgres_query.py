"""The read side on PostgreSQL (both storage profiles): rollup totals, merged histograms, log rows.

Totals come from ``metrics_minute`` (a table on plain PostgreSQL, a continuous aggregate on
TimescaleDB: the same columns). Histograms come from the tables of migration 004: a window reads
its whole days from ``latency_hist_day``, the hours at its edges from ``latency_hist_hour`` and the
minutes at its edges from ``latency_hist_minute`` (:func:`_spans`), so 30 days read about 30 rows
per series, not 43,200. Log rows page by keyset on ``(created_at, id)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from prism.adapters.postgres_pool import PooledPostgres, columns
from prism.errors import StoreError
from prism.histogram import EPOCH, align_down
from prism.read import (
    GROUP_KEYS,
    Dashboard,
    Filters,
    HistogramCounts,
    LogEntry,
    LogEntryDetail,
    LogQuery,
    ToolCall,
    Totals,
    name_taken,
)

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)

LIST_COLUMNS = (
    "id",
    "created_at",
    "ts_start",
    "ts_end",
    "latency_ms",
    "ttft_ms",
    "provider",
    "model",
    "response_model",
    "status",
    "finish_reason",
    "error_type",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cost_usd",
    "conversation_id",
    "message_id",
    "trace_id",
    "user_id",
    "tags",
    "project",
)
DETAIL_COLUMNS = (
    *LIST_COLUMNS,
    "ts_first_token",
    "error_message",
    "cached_tokens",
    "reasoning_tokens",
    "cost_note",
    "span_id",
    "metadata",
    "redactions",
    "raw_payload_jsonb",
    "raw_payload_uri",
    "sdk",
    "schema_version",
)
TOOL_COLUMNS = (
    "idx",
    "name",
    "tool_call_id",
    "status",
    "arguments",
    "result",
    "error",
    "ts_start",
    "ts_end",
    "latency_ms",
)


def _where(filters: Filters) -> tuple[sql.Composable, dict[str, Any]]:
    parts: list[sql.Composable] = []
    params: dict[str, Any] = {}
    for name in GROUP_KEYS:
        values = list(getattr(filters, name))
        if values:
            parts.append(sql.SQL("{} = ANY(%({})s)").format(sql.Identifier(name), sql.SQL(name)))
            params[name] = values
    return (sql.SQL(" AND ").join(parts) if parts else sql.SQL("TRUE")), params


def _spans(start: datetime, end: datetime, step: timedelta | None) -> dict[str, datetime]:
    """Split [start, end) for the three histogram tables: days in [days_from, days_to), hours in
    [hours_from, hours_to) outside that, minutes outside [hours_from, hours_to). A step shorter
    than a day (an hour) keeps each step inside one table, so it reads no coarser table."""
    hours_from, hours_to = align_down(start, HOUR), align_down(end, HOUR)
    if hours_from < start:
        hours_from += HOUR
    if (step is not None and step < HOUR) or hours_from >= hours_to:
        hours_from = hours_to = end
    days_from, days_to = align_down(hours_from, DAY), align_down(hours_to, DAY)
    if days_from < hours_from:
        days_from += DAY
    if (step is not None and step < DAY) or days_from >= days_to:
        days_from = days_to = hours_to
    return {"hours_from": hours_from, "hours_to": hours_to, "days_from": days_from, "days_to": days_to}


def _series(group_by: Sequence[str], step: timedelta | None, *more: str) -> tuple[sql.Composable, sql.Composable]:
    """What a series is keyed by: the select list's leading columns (the step as ``t``, then the
    group keys) and the matching GROUP BY list (plus ``more`` columns)."""
    assert all(k in GROUP_KEYS for k in group_by), group_by
    t = [sql.SQL("date_bin(%(step)s, bucket, %(origin)s) AS t")] if step else []
    select = sql.SQL("").join(c + sql.SQL(", ") for c in [*t, *map(sql.Identifier, group_by)])
    names = [*(["t"] if step else []), *group_by, *more]
    return select, sql.SQL(", ").join(map(sql.Identifier, names))


_TOTAL_NAMES = ("requests", "errors", "latency_ms_sum", "latency_ms_max", "ttft_ms_sum", "ttft_count",
                "prompt_tokens", "completion_tokens", "total_tokens", "cost_usd", "unpriced")  # fmt: skip
_TOTALS = """
    sum(requests)::bigint AS requests, sum(errors)::bigint AS errors,
    sum(latency_ms_sum) AS latency_ms_sum, max(latency_ms_max) AS latency_ms_max,
    sum(ttft_ms_sum) AS ttft_ms_sum, sum(ttft_count)::bigint AS ttft_count,
    sum(prompt_tokens)::bigint AS prompt_tokens, sum(completion_tokens)::bigint AS completion_tokens,
    sum(total_tokens)::bigint AS total_tokens, sum(cost_usd) AS cost_usd, sum(unpriced)::bigint AS unpriced
"""


class PostgresQueryStore(PooledPostgres):
    """Implements ``QueryStore`` and ``DashboardStore``."""

    def __init__(self, dsn: str, *, min_size: int = 1, max_size: int = 4, timeout: float = 10.0) -> None:
        super().__init__(
            dsn, name="prism-query", configure=_configure, min_size=min_size, max_size=max_size, timeout=timeout
        )

    # --- metrics ------------------------------------------------------------------------------

    def totals(
        self,
        start: datetime,
        end: datetime,
        filters: Filters,
        group_by: Sequence[str] = (),
        step: timedelta | None = None,
    ) -> list[Totals]:
        where, params = _where(filters)
        select, group = _series(group_by, step)
        query = sql.SQL(
            "SELECT {select}" + _TOTALS + "FROM metrics_minute WHERE bucket >= %(start)s AND bucket < %(end)s "
            "AND {where} {group_by}"
        ).format(
            select=select,
            where=where,
            group_by=sql.SQL("GROUP BY {}").format(group) if (step or group_by) else sql.SQL(""),
        )
        params.update(start=start, end=end, step=step, origin=EPOCH)
        with self._conn() as conn:
            rows = conn.execute(query, params).fetchall()
        return [
            Totals(**{k: r[k] for k in _TOTAL_NAMES}, key=tuple(r[k] for k in group_by), t=r.get("t"))
            for r in rows
            if r["requests"]
        ]

    def histograms(
        self,
        start: datetime,
        end: datetime,
        filters: Filters,
        group_by: Sequence[str] = (),
        step: timedelta | None = None,
    ) -> list[HistogramCounts]:
        """Whole days come from the day table, the hours at either edge from the hour table, the
        minutes at either edge from the minute table (see :func:`_spans`)."""
        where, params = _where(filters)
        select, series = _series(group_by, step, "metric")
        # unnest in the select list (one ProjectSet node) is several times faster than a LATERAL
        # unnest per row; the two arrays have the same length, so they unnest in step.
        query = sql.SQL(
            """
SELECT {series}, array_agg(idx ORDER BY idx) AS idx, array_agg(n ORDER BY idx) AS n FROM (
    SELECT {series}, idx, sum(n)::bigint AS n FROM (
        SELECT {select}metric, unnest(idx) AS idx, unnest(n) AS n FROM (
            SELECT * FROM latency_hist_day WHERE bucket >= %(days_from)s AND bucket < %(days_to)s
            UNION ALL
            SELECT * FROM latency_hist_hour WHERE (bucket >= %(hours_from)s AND bucket < %(days_from)s)
                                               OR (bucket >= %(days_to)s AND bucket < %(hours_to)s)
            UNION ALL
            SELECT * FROM latency_hist_minute WHERE (bucket >= %(start)s AND bucket < %(hours_from)s)
                                                 OR (bucket >= %(hours_to)s AND bucket < %(end)s)
        ) h WHERE {where}
    ) u GROUP BY {series}, idx
) merged GROUP BY {series}
"""
        ).format(select=select, where=where, series=series)
        params.update(_spans(start, end, step), start=start, end=end, step=step, origin=EPOCH)
        with self._conn() as conn:
            rows = conn.execute(query, params).fetchall()
        return [
            HistogramCounts(r["metric"], r["idx"], r["n"], key=tuple(r[k] for k in group_by), t=r.get("t"))
            for r in rows
        ]

    # --- logs ---------------------------------------------------------------------------------

    def list_logs(self, q: LogQuery) -> list[LogEntry]:
        where, params = _where(q.filters)
        conditions: list[sql.Composable] = [where, sql.SQL("created_at >= %(start)s AND created_at < %(end)s")]
        params.update(start=q.start, end=q.end, limit=q.limit)
        for name in ("conversation_id", "trace_id", "user_id"):
            value = getattr(q, name)
            if value is not None:
                conditions.append(sql.SQL("{} = %({})s").format(sql.Identifier(name), sql.SQL(name)))
                params[name] = value
        if q.tag is not None:
            conditions.append(sql.SQL("%(tag)s = ANY(tags)"))
            params["tag"] = q.tag
        if q.before is not None:
            conditions.append(sql.SQL("(created_at, id) < (%(before_at)s, %(before_id)s)"))
            params.update(before_at=q.before[0], before_id=q.before[1])
        query = sql.SQL(
            "SELECT {cols} FROM inference_logs WHERE {where} ORDER BY created_at DESC, id DESC LIMIT %(limit)s"
        ).format(cols=columns(*LIST_COLUMNS), where=sql.SQL(" AND ").join(conditions))
        with self._conn() as conn:
            return [LogEntry(**r) for r in conn.execute(query, params).fetchall()]

    def get_log(self, log_id: UUID) -> LogEntryDetail | None:
        with self._conn() as conn:
            row = conn.execute(
                sql.SQL("SELECT {} FROM inference_logs WHERE id = %s").format(columns(*DETAIL_COLUMNS)), (log_id,)
            ).fetchone()
            if row is None:
                return None
            tools = conn.execute(
                sql.SQL(
                    "SELECT {} FROM tool_invocations WHERE inference_id = %s AND created_at = %s ORDER BY idx"
                ).format(columns(*TOOL_COLUMNS)),
                (log_id, row["created_at"]),
            ).fetchall()
        return LogEntryDetail(**row, tools=[ToolCall(**t) for t in tools])

    # --- dashboards ---------------------------------------------------------------------------

    def list_dashboards(self, project: str = "default") -> list[Dashboard]:
        return self.list_dashboards_in([project])

    def list_dashboards_in(self, projects: Sequence[str]) -> list[Dashboard]:
        with self._conn() as conn:
            rows = conn.execute(
                sql.SQL("SELECT {} FROM dashboards WHERE project = ANY(%s) ORDER BY updated_at DESC, id DESC").format(
                    _DASHBOARD
                ),
                (list(projects),),
            ).fetchall()
        return [Dashboard(**r) for r in rows]

    def get_dashboard(self, dashboard_id: UUID) -> Dashboard | None:
        with self._conn() as conn:
            row = conn.execute(
                sql.SQL("SELECT {} FROM dashboards WHERE id = %s").format(_DASHBOARD), (dashboard_id,)
            ).fetchone()
        return Dashboard(**row) if row else None

    def save_dashboard(
        self,
        dashboard_id: UUID,
        name: str,
        spec: dict[str, Any],
        *,
        create: bool,
        owner: UUID | None = None,
        project: str = "default",
    ) -> Dashboard | None:
        try:
            with self._conn() as conn:
                if create:
                    row = conn.execute(
                        sql.SQL(
                            "INSERT INTO dashboards (id, name, spec, user_id, project) VALUES (%s, %s, %s, %s, %s)"
                            " RETURNING {}"
                        ).format(_DASHBOARD),
                        (dashboard_id, name, Jsonb(spec), owner, project),
                    ).fetchone()
                else:
                    row = conn.execute(
                        sql.SQL(
                            "UPDATE dashboards SET name = %s, spec = %s, updated_at = now() WHERE id = %s RETURNING {}"
                        ).format(_DASHBOARD),
                        (name, Jsonb(spec), dashboard_id),
                    ).fetchone()
        except StoreError as exc:
            if isinstance(exc.__cause__, psycopg.errors.UniqueViolation):
                raise name_taken(name) from exc
            raise
        return Dashboard(**row) if row else None

    def delete_dashboard(self, dashboard_id: UUID) -> bool:
        with self._conn() as conn:
            return conn.execute("DELETE FROM dashboards WHERE id = %s", (dashboard_id,)).rowcount > 0


def _configure(conn: psycopg.Connection[Any]) -> None:
    # A day of per-minute histograms at 5-minute steps merges into ~40k (step, metric, bucket)
    # groups: keep the aggregate in memory rather than spilling to disk (the default is 4 MB).
    conn.execute("SET work_mem = '64MB'")


_DASHBOARD = columns("id", "name", "spec", "created_at", "updated_at", "user_id", "project")
