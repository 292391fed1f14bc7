"""Read-side benchmark: 30-day metrics and the logs explorer over millions of rows.

    uv run python -m bench.query_bench [--rows 10000000] [--days 30] [--repeat 5] [--profile postgres]

Fills a fresh database (the real migrations, on ``--profile``: ``postgres``, or ``timescale`` on
the server of ``PRISM_TEST_PG``; default ``PRISM_TEST_PROFILE`` or ``postgres``) with ``--rows``
inference rows spread over ``--days`` days and five models (log-normal latencies), and the rollup and
histogram tables the writer keeps, computed in SQL with the writer's own bucket function (on
TimescaleDB ``metrics_minute`` is a continuous aggregate: it is refreshed from the rows instead,
as its policy would). Then it
times, side by side, the query API's reads (through ``QueryService`` on ``PostgresQueryStore``,
no HTTP) and the exact answer from the raw rows (``percentile_disc``), and reports each
percentile's error against the exact one.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

MODELS = [("openai", "gpt-4o", 6.3), ("openai", "gpt-4o-mini", 5.8), ("anthropic", "claude-sonnet", 6.8),
          ("anthropic", "claude-haiku", 6.0), ("gemini", "gemini-flash", 5.9)]  # fmt: skip

FILL = """
INSERT INTO inference_logs (id, created_at, ts_start, ts_first_token, ts_end, latency_ms, ttft_ms, provider, model,
                            status, prompt_tokens, completion_tokens, total_tokens, cost_usd, tags, schema_version)
SELECT gen_random_uuid(), at, at - make_interval(secs => lat / 1000),
       at - make_interval(secs => (lat - ttft) / 1000), at,
       lat, ttft, m.provider, m.model, CASE WHEN random() < 0.02 THEN 'error' ELSE 'ok' END,
       400 + (random() * 800)::int, 100 + (random() * 300)::int, 0, random() / 100, '{}', 1
FROM (
    SELECT %(start)s::timestamptz + (i::float8 / %(rows)s) * %(span)s::interval AS at, i %% 5 AS k,
           exp(mu.v + 0.6 * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random())) AS lat, random() AS r
    FROM generate_series(%(from_i)s, %(to_i)s - 1) AS i
    CROSS JOIN LATERAL (SELECT (ARRAY[6.3, 5.8, 6.8, 6.0, 5.9])[i %% 5 + 1] AS v) AS mu
) g
CROSS JOIN LATERAL (SELECT lat * (0.05 + 0.35 * r) AS ttft) t
JOIN (VALUES (0, 'openai', 'gpt-4o'), (1, 'openai', 'gpt-4o-mini'), (2, 'anthropic', 'claude-sonnet'),
             (3, 'anthropic', 'claude-haiku'), (4, 'gemini', 'gemini-flash')) AS m (k, provider, model) ON m.k = g.k
"""

ROLLUPS = [
    """INSERT INTO metrics_minute
       SELECT date_trunc('minute', created_at), model, provider, status, count(*),
              count(*) FILTER (WHERE status = 'error'), sum(latency_ms), max(latency_ms),
              coalesce(sum(ttft_ms), 0), count(ttft_ms), coalesce(sum(prompt_tokens), 0),
              coalesce(sum(completion_tokens), 0), coalesce(sum(total_tokens), 0), coalesce(sum(cost_usd), 0)
       FROM inference_logs GROUP BY 1, 2, 3, 4""",
    """INSERT INTO latency_hist_minute
       SELECT bucket, model, provider, status, metric, array_agg(idx ORDER BY idx), array_agg(c ORDER BY idx)
       FROM (SELECT date_trunc('minute', created_at) AS bucket, model, provider, status, 'latency' AS metric,
                    prism_hist_bucket(latency_ms) AS idx, count(*) AS c
             FROM inference_logs WHERE created_at >= %(minutes_from)s GROUP BY 1, 2, 3, 4, 5, 6
             UNION ALL
             SELECT date_trunc('minute', created_at), model, provider, status, 'ttft', prism_hist_bucket(ttft_ms),
                    count(*)
             FROM inference_logs WHERE ttft_ms IS NOT NULL AND created_at >= %(minutes_from)s
             GROUP BY 1, 2, 3, 4, 5, 6) AS per_minute
       GROUP BY 1, 2, 3, 4, 5""",
    """INSERT INTO latency_hist_hour
       SELECT bucket, model, provider, status, metric, array_agg(idx ORDER BY idx), array_agg(c ORDER BY idx)
       FROM (SELECT date_trunc('hour', created_at) AS bucket, model, provider, status, 'latency' AS metric,
                    prism_hist_bucket(latency_ms) AS idx, count(*) AS c
             FROM inference_logs GROUP BY 1, 2, 3, 4, 5, 6
             UNION ALL
             SELECT date_trunc('hour', created_at), model, provider, status, 'ttft', prism_hist_bucket(ttft_ms),
                    count(*)
             FROM inference_logs WHERE ttft_ms IS NOT NULL GROUP BY 1, 2, 3, 4, 5, 6) AS per_hour
       GROUP BY 1, 2, 3, 4, 5""",
    """INSERT INTO latency_hist_day
       SELECT bucket, model, provider, status, metric, array_agg(idx ORDER BY idx), array_agg(c ORDER BY idx)
       FROM (SELECT date_trunc('day', created_at, 'UTC') AS bucket, model, provider, status, 'latency' AS metric,
                    prism_hist_bucket(latency_ms) AS idx, count(*) AS c
             FROM inference_logs GROUP BY 1, 2, 3, 4, 5, 6
             UNION ALL
             SELECT date_trunc('day', created_at, 'UTC'), model, provider, status, 'ttft', prism_hist_bucket(ttft_ms),
                    count(*)
             FROM inference_logs WHERE ttft_ms IS NOT NULL GROUP BY 1, 2, 3, 4, 5, 6) AS per_day
       GROUP BY 1, 2, 3, 4, 5""",
]


def fill(db_url: str, rows: int, days: int, end: datetime, profile: str = "postgres") -> float:
    from prism.adapters.postgres import ensure_partitions, refresh_rollup

    start = end - timedelta(days=days)
    t0 = time.perf_counter()
    with psycopg.connect(db_url, autocommit=True) as conn:
        if profile == "postgres":  # TimescaleDB makes its chunks as rows arrive
            ensure_partitions(conn, end.date(), 1, back=days + 1)
        chunk = 1_000_000
        for from_i in range(0, rows, chunk):
            to_i = min(rows, from_i + chunk)
            conn.execute(
                FILL, {"start": start, "rows": rows, "span": timedelta(days=days), "from_i": from_i, "to_i": to_i}
            )
            print(f"  {to_i:,} rows", flush=True)
        # what the writer keeps: per-minute histograms for the last 2 days (PRISM_MINUTE_HISTOGRAM_DAYS)
        minutes_from = datetime.combine(end.date() - timedelta(days=2), datetime.min.time(), UTC)
        for statement in ROLLUPS if profile == "postgres" else ROLLUPS[1:]:
            conn.execute(statement, {"minutes_from": minutes_from})
        if profile == "timescale":
            refresh_rollup(conn, start - timedelta(days=1), end)
        conn.execute("VACUUM ANALYZE")
    return time.perf_counter() - t0


def timed(repeat: int, call: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    async def run() -> tuple[float, Any]:
        times, result = [], None
        for _ in range(repeat):
            t0 = time.perf_counter()
            result = await call()
            times.append((time.perf_counter() - t0) * 1000)
        return statistics.median(times), result

    return asyncio.run(run())


def exact(db_url: str, repeat: int, sql: str, params: tuple[Any, ...]) -> tuple[float, Any]:
    times, result = [], None
    with psycopg.connect(db_url) as conn:
        for _ in range(repeat):
            t0 = time.perf_counter()
            result = conn.execute(sql, params).fetchone()
            times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the database (its URL is printed)")
    parser.add_argument(
        "--profile",
        choices=("postgres", "timescale"),
        default=os.environ.get("PRISM_TEST_PROFILE", "postgres"),
        help="storage profile (timescale: PRISM_TEST_PG must point at a server with the extension)",
    )
    args = parser.parse_args()

    from prism.adapters.postgres import drop_database, migrate
    from prism.adapters.postgres_query import PostgresQueryStore
    from prism.cursor import decode_cursor
    from prism.read import Filters, LogQuery
    from query.service import QueryService, pick_step, window

    admin = os.environ.get("PRISM_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
    db_url = admin.rsplit("/", 1)[0] + f"/prism_bench_query_{uuid.uuid4().hex[:10]}"
    migrate(db_url, profile=args.profile, retention_days=max(30, args.days + 2))
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    try:
        print(f"Filling {args.rows:,} rows over {args.days} days ({args.profile} profile) ...", flush=True)
        fill_s = fill(db_url, args.rows, args.days, end, args.profile)
        with psycopg.connect(db_url) as conn:
            sizes = conn.execute(
                "SELECT (SELECT count(*) FROM latency_hist_minute), (SELECT count(*) FROM latency_hist_hour), "
                "(SELECT count(*) FROM latency_hist_day), (SELECT count(*) FROM metrics_minute)"
            ).fetchone()
        store = PostgresQueryStore(db_url)
        service = QueryService(store, None)
        w = window(end - timedelta(days=args.days), end)
        none = Filters()
        rows: list[tuple[str, float, str]] = []

        t_sum, summary = timed(args.repeat, lambda: service.summary(w, none, ()))
        p = summary.total.latency_ms
        t_exact, ex = exact(
            db_url,
            max(1, args.repeat // 2),
            "SELECT percentile_disc(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY latency_ms), count(*) "
            "FROM inference_logs WHERE created_at >= %s AND created_at < %s",
            (w.start, w.end),
        )
        errors = [abs(getattr(p, k) - e) / e * 100 for k, e in zip(("p50", "p95", "p99"), ex[0], strict=True)]
        n = summary.total.requests
        rows.append((f"summary, {args.days} days: p50/p95/p99 (histograms)", t_sum,
                     f"{p.p50:.1f} / {p.p95:.1f} / {p.p99:.1f} ms over {n:,} rows"))  # fmt: skip
        rows.append(("same, exact (percentile_disc over the rows)", t_exact,
                     f"{ex[0][0]:.1f} / {ex[0][1]:.1f} / {ex[0][2]:.1f} ms; error "
                     f"{errors[0]:.2f} / {errors[1]:.2f} / {errors[2]:.2f} %"))  # fmt: skip
        t_group, grouped = timed(args.repeat, lambda: service.summary(w, none, ("model",)))
        rows.append(("summary by model (5 groups)", t_group, f"{len(grouped.groups)} groups"))
        step = pick_step(w, None)
        ws = window(w.start, w.end, step)
        t_ts, ts = timed(args.repeat, lambda: service.timeseries(ws, step, none, ()))
        rows.append((f"timeseries, auto step ({int(step.total_seconds())} s)", t_ts,
                     f"{len(ts.series[0].points)} points with p50/p95/p99"))  # fmt: skip
        t_ts_m, ts_m = timed(args.repeat, lambda: service.timeseries(ws, step, none, ("model",)))
        rows.append(("timeseries by model", t_ts_m, f"{len(ts_m.series)} series"))
        day = window(end - timedelta(hours=24), end)
        hour_step = pick_step(day, 300)
        t_day, _ = timed(args.repeat, lambda: service.timeseries(window(day.start, day.end, hour_step), hour_step,
                                                                   none, ()))  # fmt: skip
        rows.append(("timeseries, last 24 h at 5 min", t_day, "288 points"))
        first = LogQuery(start=w.start, end=w.end, limit=50)
        t_page, page = timed(args.repeat, lambda: service.logs(first))
        rows.append(("logs: newest 50", t_page, f"{len(page.items)} rows"))

        async def deep() -> Any:
            q, result = first, None
            for _ in range(20):
                result = await service.logs(q)
                q = LogQuery(start=w.start, end=w.end, limit=50, before=decode_cursor(result.next_cursor))
            return result

        t_deep, _ = timed(max(1, args.repeat // 2), deep)
        rows.append(("logs: 20 pages of 50, by cursor", t_deep, f"{t_deep / 20:.1f} ms per page"))
        flt = LogQuery(start=w.start, end=w.end, limit=50, filters=Filters(model=["claude-haiku"], status=["error"]))
        t_flt, fpage = timed(args.repeat, lambda: service.logs(flt))
        rows.append(("logs: model + status filter, newest 50", t_flt, f"{len(fpage.items)} rows"))
        some_id = page.items[0].id
        t_one, _ = timed(args.repeat, lambda: service.log(some_id))
        rows.append(("log detail by id", t_one, "row + tools + payload"))
        store.close()
    finally:
        if args.keep:
            print(f"kept: {db_url}")
        else:
            drop_database(db_url)

    print(
        f"\nQuery bench: {args.rows:,} rows over {args.days} days (filled in {fill_s:.0f} s); histogram rows: "
        f"{sizes[0]:,} per minute, {sizes[1]:,} per hour, {sizes[2]:,} per day; rollup rows: {sizes[3]:,}. "
        f"Median of {args.repeat} runs.\n"
    )
    print("| read | ms | result |")
    print("|---|---:|---|")
    for name, ms, note in rows:
        print(f"| {name} | {ms:.1f} | {note} |")
    ratio = t_exact / t_sum if t_sum else float("inf")
    print(f"\nHistogram percentiles vs exact over the rows: {ratio:.0f}x faster; goal: a 30-day p95 over 10 million "
          f"rows well under a second ({'met' if t_sum < 1000 else 'NOT met'}: {t_sum:.0f} ms)")  # fmt: skip


if __name__ == "__main__":
    main()
