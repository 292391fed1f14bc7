"""End-to-end pipeline benchmark: HTTP in → Redis Streams → writer → rows committed.

    uv run python -m bench.pipeline_bench [--seconds 60] [--workers 2] [--writers 1]

Drives the real ingestion API (uvicorn) and writer processes on a fresh database and stream,
with a closed-loop HTTP load of 500-event batches, then checks zero lost and zero duplicated
and reports sustained events/s, freshness (202 received → row visible) p50/p99, and what is left
in the Redis stream once the writer has caught up (the writer deletes what it acknowledged).
The database is made like the tests' (``tests.conftest.fresh_database``): on ``PRISM_TEST_PROFILE``
(``postgres``, or ``timescale`` with ``PRISM_TEST_PG`` pointing at a server that has the extension).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
import time
import uuid
from pathlib import Path
from statistics import quantiles
from typing import Any

import httpx
import psycopg
import redis
from prism_sdk._event import uuid7

ROOT = Path(__file__).resolve().parent.parent

PROSE = (
    "Summarise the quarterly report for the board. Revenue grew 12% to 4.2 million while costs fell; "
    "the team shipped three releases and closed 140 support tickets. Highlight risks, next steps, "
    "and anything that needs a decision before the 15th. Keep it under 200 words and use bullet points. "
)
ANSWER = (
    "- Revenue up 12% to 4.2M; costs down.\n- Three releases shipped; 140 tickets closed.\n"
    "- Risks: hiring pace, one vendor contract up for renewal.\n- Decision needed: budget for Q3 by the 15th."
)


def template(pii: bool) -> str:
    user = PROSE + (" Reply to jane.doe@example.com or call 415-555-0199." if pii else "")
    event = {
        "id": "@ID@",
        "ts_start": "@T0@",
        "ts_first_token": "@T1@",
        "ts_end": "@T2@",
        "provider": "openai",
        "model": "gpt-4o-mini",
        "status": "ok",
        "usage": {"prompt_tokens": 180, "completion_tokens": 64, "total_tokens": 244},
        "cost_usd": 0.0000654,
        "request": {
            "messages": [
                {"role": "system", "content": "You are a concise analyst."},
                {"role": "user", "content": user},
            ],
            "params": {"temperature": 0.2, "max_tokens": 300},
        },
        "response": {"model": "gpt-4o-mini-2024-07-18", "content": ANSWER, "finish_reason": "stop"},
        "conversation_id": "@CONV@",
        "tags": ["bench"],
        "metadata": {"feature": "report"},
    }
    return json.dumps(event, separators=(",", ":"))


class Load:
    def __init__(self, urls: list[str], key: str, batch: int, pii_every: int) -> None:
        self.urls = [u + "/v1/events" for u in urls]
        self.headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        self.batch = batch
        self.templates = [template(False), template(True)]
        self.pii_every = pii_every
        self.accepted = 0
        self.errors = 0
        self.samples: dict[str, float] = {}  # event id -> when its 202 arrived
        self.lock = threading.Lock()

    def body(self) -> tuple[bytes, list[str]]:
        now = time.time()
        t0 = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now - 2)) + ".000000Z"
        t1 = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now - 2)) + ".350000Z"
        t2 = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now - 1)) + ".200000Z"
        parts, ids = [], []
        for i in range(self.batch):
            eid = uuid7()  # what prism-sdk makes: time-ordered ids
            ids.append(eid)
            tpl = self.templates[1 if i % self.pii_every == 0 else 0]
            parts.append(
                tpl.replace("@ID@", eid)
                .replace("@T0@", t0)
                .replace("@T1@", t1)
                .replace("@T2@", t2)
                .replace("@CONV@", ids[0])
            )
        return ('{"events":[' + ",".join(parts) + "]}").encode(), ids

    async def worker(self, client: httpx.AsyncClient, until: float, url: str) -> None:
        while time.monotonic() < until:
            body, ids = self.body()
            try:
                response = await client.post(url, content=body, headers=self.headers)
            except httpx.HTTPError:
                self.errors += 1
                continue
            if response.status_code == 202:
                now = time.monotonic()
                with self.lock:
                    self.accepted += len(ids)
                    self.samples[ids[0]] = now
                    self.samples[ids[-1]] = now
            else:
                self.errors += 1

    async def run(self, seconds: float, concurrency: int) -> None:
        until = time.monotonic() + seconds
        limits = httpx.Limits(max_connections=concurrency)
        async with httpx.AsyncClient(timeout=30, limits=limits) as client:
            await asyncio.gather(
                *(self.worker(client, until, self.urls[i % len(self.urls)]) for i in range(concurrency))
            )


def watch_freshness(database_url: str, load: Load, stop: threading.Event, seen: dict[str, float]) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        while not stop.is_set():
            with load.lock:
                waiting = [i for i in load.samples if i not in seen]
            if waiting:
                rows = conn.execute(
                    "SELECT id::text FROM inference_event_ids WHERE id = ANY(%s::uuid[])", (waiting,)
                ).fetchall()
                now = time.monotonic()
                for (eid,) in rows:
                    seen[eid] = now
            stop.wait(0.02)


def pct(values: list[float], p: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return quantiles(values, n=100, method="inclusive")[p - 1]


def run(seconds: float, workers: int, writers: int, concurrency: int, batch: int) -> dict[str, Any]:
    from prism.adapters.postgres import drop_database

    from tests.conftest import fresh_database
    from tests.support.stack import Stack

    database_url = fresh_database("prism_bench")
    stream = f"prism-bench:{uuid.uuid4().hex[:8]}:inference.logged"
    client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    try:
        stack = Stack(
            database_url,
            "redis://127.0.0.1:6379/0",
            stream,
            writer=False,
            env={"PRISM_WRITER_BLOCK_MS": "20", "PRISM_WRITER_BATCH": "2000"},
        )
        with stack:
            if workers > 1:  # N ingestion instances, the load spread over them like a load balancer
                stack.stop("ingestion")
                stack.start_ingestion(workers=workers)
            for n in range(writers):
                stack.start_writer(f"writer-{n}", consumer=f"bench-{n}")
            load = Load(stack.ingest_urls, stack.api_key, batch, pii_every=10)
            asyncio.run(load.run(3, concurrency))  # warm up
            stack.wait_for_rows(load.accepted, timeout=60)
            warm = load.accepted
            load.accepted, load.samples = 0, {}
            seen: dict[str, float] = {}
            stop = threading.Event()
            watcher = threading.Thread(target=watch_freshness, args=(database_url, load, stop, seen), daemon=True)
            watcher.start()
            started = time.monotonic()
            asyncio.run(load.run(seconds, concurrency))
            sent_for = time.monotonic() - started
            total = warm + load.accepted
            stack.wait_for_rows(total, timeout=120)
            drained = time.monotonic() - started
            time.sleep(1.0)
            stop.set()
            watcher.join()
            left_entries = int(client.xlen(stream))
            left_bytes = int(client.memory_usage(stream) or 0)
            with psycopg.connect(database_url) as conn:
                rows, distinct = conn.execute("SELECT count(*), count(DISTINCT id) FROM inference_logs").fetchone()  # type: ignore[misc]
                rollup = conn.execute("SELECT coalesce(sum(requests), 0) FROM metrics_minute").fetchone()[0]  # type: ignore[index]
            fresh = [(seen[i] - t) * 1000 for i, t in load.samples.items() if i in seen]
            return {
                "seconds": seconds,
                "ingestion_workers": workers,
                "writers": writers,
                "accepted": total,
                "rows": rows,
                "lost": total - distinct,
                "duplicated": rows - distinct,
                "rollup_requests": int(rollup),
                "http_errors": load.errors,
                "ingest_eps": load.accepted / sent_for,
                "end_to_end_eps": load.accepted / drained,
                "fresh_p50_ms": pct(fresh, 50),
                "fresh_p99_ms": pct(fresh, 99),
                "fresh_samples": len(fresh),
                "stream_entries_left": left_entries,
                "stream_kib_left": left_bytes / 1024,
            }
    finally:
        for key in client.scan_iter(match=stream.split(":inference")[0] + ":*"):
            client.delete(key)
        client.close()
        drop_database(database_url)


def table(results: list[dict[str, Any]]) -> str:
    head = (
        f"{'ingestion workers':>17} {'writers':>7} {'accepted':>9} {'lost':>5} {'dup':>4} "
        f"{'ingest ev/s':>11} {'end-to-end ev/s':>15} {'fresh p50 ms':>12} {'fresh p99 ms':>12} "
        f"{'stream left':>11} {'stream KiB':>10}"
    )
    lines = ["Pipeline: HTTP in -> Redis Streams -> writer -> PostgreSQL (rows committed)", head, "-" * len(head)]
    for r in results:
        lines.append(
            f"{r['ingestion_workers']:>17} {r['writers']:>7} {r['accepted']:>9} {r['lost']:>5} {r['duplicated']:>4} "
            f"{r['ingest_eps']:>11,.0f} {r['end_to_end_eps']:>15,.0f} "
            f"{r['fresh_p50_ms']:>12.0f} {r['fresh_p99_ms']:>12.0f} "
            f"{r['stream_entries_left']:>11} {r['stream_kib_left']:>10,.0f}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--workers", type=int, nargs="+", default=[2])
    parser.add_argument("--writers", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    results = [run(args.seconds, w, args.writers, args.concurrency, args.batch) for w in args.workers]
    print(table(results))
    for r in results:
        ok = r["lost"] == 0 and r["duplicated"] == 0 and r["rollup_requests"] == r["rows"]
        verdict = "zero lost, zero duplicated" if ok else f"LOSS OR DUPLICATES: {r}"
        print(f"  workers={r['ingestion_workers']}: {verdict}")


if __name__ == "__main__":
    main()
