"""prism-sdk benchmark: added latency per LiteLLM call (wrapped vs bare vs Langfuse), bursts with the
spool on (100k ``log()`` calls of event dicts, 20k call records), what a process that exits right
after a burst (``os._exit``, as SIGKILL) loses, what a call costs with the ingestion API down, and how
close the events' time stamps are to when the provider sent the chunks they stamp.

Run: ``uv run python -m bench.sdk_bench`` (``--rounds N`` to change the sample size).
Everything is local: the fake OpenAI server (tests/support/fake_openai.py) answers at once, and one
sink HTTP server accepts both Prism's batches and Langfuse's OTLP exports.

Method. A LiteLLM call against a local fake takes ~5-15 ms and varies by more than a millisecond
from call to call on a shared box, far more than the 50 µs to resolve. So:

* the three modes are interleaved: each round makes one call of each (bare LiteLLM, prism-sdk,
  Langfuse) in a random order, and the added latency is the median over rounds of the paired
  difference (mode - bare of the same round), with a distribution-free 95% confidence interval;
* LiteLLM itself is timed in every mode by the same bench-only shims (:class:`Timing`), so the time
  spent outside LiteLLM - the instrumentation's own code on the caller's path: prism-sdk's hooks
  before and after the call and per stream chunk, Langfuse's decorator - is measured directly,
  without LiteLLM's variance. Background threads (prism-sdk's worker, Langfuse's exporter) are not
  on the caller's path; they show up only as GIL contention in the end-to-end numbers.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


class Sink:
    """Accepts everything: ``POST /v1/events`` (counted) and Langfuse's ``/api/public/otel/v1/traces``."""

    def __init__(self) -> None:
        self.events = 0
        self.ids: set[str] = set()
        self.otel_requests = 0
        self.lock = threading.Lock()
        sink = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a: Any) -> None:
                pass

            def _reply(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                self._reply(200, b"{}")

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path.startswith("/v1/events"):
                    if self.headers.get("Content-Encoding") == "gzip":
                        raw = gzip.decompress(raw)
                    evs = json.loads(raw)["events"]
                    with sink.lock:
                        sink.events += len(evs)
                        sink.ids.update(e["id"] for e in evs)
                    self._reply(202, json.dumps({"accepted": len(evs)}).encode())
                else:
                    with sink.lock:
                        sink.otel_requests += 1
                    self._reply(200, b"{}")

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that exits mid-request (the os._exit runs): nothing to report

        self.server = Server(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))]


def median_ci(xs: list[float], z: float = 1.96) -> tuple[float, float, float]:
    """Median and its distribution-free 95% confidence interval (order statistics, binomial(n, 1/2))."""
    s = sorted(xs)
    n = len(s)
    half = z * math.sqrt(n) / 2
    lo = max(0, math.floor(n / 2 - half))
    hi = min(n - 1, math.ceil(n / 2 + half))
    return statistics.median(s), s[lo], s[hi]


class Timing:
    """Bench-only instrumentation of LiteLLM, identical in every mode: the time spent inside LiteLLM.

    ``litellm.completion`` is replaced by a shim that times the real call and re-classes the stream it
    returns to a subclass whose ``__next__`` times LiteLLM's own. For one call,
    ``outside = total - inside`` is the time spent in the caller's loop, in these shims and, for the
    instrumented modes, in the instrumentation's own code (prism-sdk's pre/post hooks and per-chunk
    hook; Langfuse's decorator). Paired with the bare call of the same round, it is the
    instrumentation's own caller-path time, free of LiteLLM's (and the fake server's) variance.
    """

    def __init__(self) -> None:
        import litellm
        from litellm.litellm_core_utils.streaming_handler import CustomStreamWrapper

        self.inside = 0
        timing = self
        real = litellm.completion
        clock = time.perf_counter_ns

        class TimedStream(CustomStreamWrapper):
            def __next__(self) -> Any:
                t0 = clock()
                try:
                    return super().__next__()
                finally:
                    timing.inside += clock() - t0

        def completion(*args: Any, **kwargs: Any) -> Any:
            t0 = clock()
            try:
                resp = real(*args, **kwargs)
                if type(resp) is CustomStreamWrapper:
                    resp.__class__ = TimedStream
                return resp
            finally:
                timing.inside += clock() - t0

        litellm.completion = completion  # prism_sdk.completion looks it up at each call, as bare does
        self.completion = completion


MODES = ("litellm (bare)", "prism-sdk", "langfuse")


def measure_calls(fake_url: str, rounds: int, warmup: int, seed: int) -> dict[tuple[str, bool], Any]:
    """Per round, one call of each mode in a random order; returns per-mode lists indexed by round.

    ``total``: wall time of the call (and of consuming the whole stream), ``outside``: the part of it
    spent outside LiteLLM (see :class:`Timing`).
    """
    import prism_sdk

    timing = Timing()
    completion = timing.completion
    msgs = [{"role": "user", "content": "Say hello in five words"}]
    kw = {"model": "openai/gpt-4o-mini", "api_base": fake_url, "api_key": "x", "messages": msgs}

    # Streams ask for usage in every mode (the wrapper would add it anyway): same request, same chunks,
    # so the difference is the SDK's own cost.
    def extra(stream: bool) -> dict[str, Any]:
        return {"stream": True, "stream_options": {"include_usage": True}} if stream else {}

    def bare(stream: bool) -> None:
        r = completion(**kw, **extra(stream))
        if stream:
            for _ in r:
                pass

    def wrapped(stream: bool) -> None:
        r = prism_sdk.completion(**kw, **extra(stream))
        if stream:
            for _ in r:
                pass

    # litellm 1.110.2's "langfuse" callback refuses langfuse 5.x (it wants >=4.7,<5), so Langfuse's
    # side is its own SDK instrumenting the same LiteLLM call: @observe(as_type="generation"),
    # exported by its OTLP span processor to {LANGFUSE_HOST}/api/public/otel/v1/traces (the sink).
    from langfuse import observe

    @observe(as_type="generation", capture_input=True, capture_output=True)
    def langfuse(stream: bool) -> None:
        bare(stream)

    fns = {"litellm (bare)": bare, "prism-sdk": wrapped, "langfuse": langfuse}
    rng = random.Random(seed)
    out: dict[tuple[str, bool], Any] = {}
    clock = time.perf_counter_ns
    for stream in (False, True):
        for fn in fns.values():  # warm up every path
            for _ in range(warmup):
                fn(stream)
        total: dict[str, list[float]] = {m: [] for m in MODES}
        outside: dict[str, list[float]] = {m: [] for m in MODES}
        order = list(MODES)
        for _ in range(rounds):
            rng.shuffle(order)
            for name in order:
                fn = fns[name]
                timing.inside = 0
                t0 = clock()
                fn(stream)
                dt = clock() - t0
                total[name].append(dt / 1000)
                outside[name].append((dt - timing.inside) / 1000)
        out[("total", stream)] = total
        out[("outside", stream)] = outside
    from langfuse import get_client

    get_client().flush()
    return out


def burst_records(sink: Sink, n: int) -> dict[str, Any]:
    """``n`` calls made with ``llm_call`` as fast as possible, spool on: each record is built and
    serialised by the spool thread, or by the caller beyond ``PRISM_MAX_UNSPOOLED`` events not on disk."""
    import prism_sdk

    spool = tempfile.mkdtemp(prefix="prism-bench-spool-")
    client = prism_sdk.Prism(ingest_url=sink.url, api_key="k", spool_dir=spool, batch_size=500)
    msgs = [{"role": "user", "content": "x" * 400}]
    before = sink.events
    lat: list[float] = []
    t_start = time.perf_counter()
    for _ in range(n):
        t0 = time.perf_counter_ns()
        with prism_sdk.llm_call(provider="openai", model="gpt-4o-mini", messages=msgs, client=client) as call:
            call.set_output("y" * 300, finish_reason="stop")
            call.set_usage(prompt_tokens=120, completion_tokens=40)
            call.set_cost(0.0001)
        lat.append((time.perf_counter_ns() - t0) / 1000)
    log_s = time.perf_counter() - t_start
    deadline = time.monotonic() + 120
    while sink.events - before < n and time.monotonic() < deadline:
        client.flush(1)
        time.sleep(0.05)
    s = client.stats()
    client.shutdown()
    return {
        "n": n,
        "call_p50_us": statistics.median(lat),
        "call_p99_us": pct(lat, 99),
        "calls_total_s": log_s,
        "delivered": sink.events - before,
        "spooled": s.spooled,
        "dropped": s.dropped_total,
        "drain_s": time.perf_counter() - t_start,
    }


EXIT_CHILD = textwrap.dedent(
    """
    import os, sys, time
    import prism_sdk
    client = prism_sdk.Prism(ingest_url=sys.argv[1], api_key="k", spool_dir=sys.argv[2])
    msgs = [{"role": "user", "content": "x" * 400}]
    t0 = time.perf_counter()
    for _ in range(int(sys.argv[3])):
        with prism_sdk.llm_call(provider="openai", model="gpt-4o-mini", messages=msgs, client=client) as call:
            call.set_output("y" * 300, finish_reason="stop")
            call.set_usage(prompt_tokens=120, completion_tokens=40)
            call.set_cost(0.0001)
    print(f"{(time.perf_counter() - t0) * 1000:.1f}", flush=True)
    os._exit(0)
    """
)


def exit_after_burst(sink: Sink, n: int, runs: int) -> list[dict[str, Any]]:
    """A child process makes ``n`` calls with the spool on, then ``os._exit(0)`` (no shutdown, no
    atexit: what SIGKILL leaves). The next client on the same spool replays what reached the disk."""
    import prism_sdk

    out = []
    for _ in range(runs):
        spool = tempfile.mkdtemp(prefix="prism-bench-exit-")
        before = len(sink.ids)
        child = subprocess.run(
            [sys.executable, "-c", EXIT_CHILD, sink.url, spool, str(n)],
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
        by_child = len(sink.ids) - before
        nxt = prism_sdk.Prism(ingest_url=sink.url, api_key="k", spool_dir=spool)
        nxt.flush(60)
        time.sleep(0.2)
        nxt.flush(60)
        nxt.shutdown()
        delivered = len(sink.ids) - before  # distinct ids: a batch in flight at the exit may come twice
        out.append(
            {
                "calls_ms": float(child.stdout.strip() or "nan"),
                "sent_before_exit": by_child,
                "delivered": delivered,
                "lost": n - delivered,
            }
        )
    return out


def burst(sink: Sink, n: int) -> dict[str, Any]:
    import prism_sdk

    spool = tempfile.mkdtemp(prefix="prism-bench-spool-")
    client = prism_sdk.Prism(ingest_url=sink.url, api_key="k", spool_dir=spool, batch_size=500)
    event = {
        "ts_start": "2026-11-27T07:00:00.000000Z",
        "ts_end": "2026-11-27T07:00:01.000000Z",
        "provider": "openai",
        "model": "gpt-4o-mini",
        "status": "ok",
        "usage": {"prompt_tokens": 120, "completion_tokens": 40, "total_tokens": 160},
        "request": {"messages": [{"role": "user", "content": "x" * 400}], "params": {"temperature": 0.2}},
        "response": {"content": "y" * 300, "finish_reason": "stop"},
        "cost_usd": 0.0001,
    }
    before = sink.events
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    ids = [str(uuid.uuid4()) for _ in range(n)]
    lat: list[float] = []
    t_start = time.perf_counter()
    for i in range(n):
        ev = dict(event, id=ids[i])
        t0 = time.perf_counter_ns()
        client.log(ev)
        lat.append((time.perf_counter_ns() - t0) / 1000)
    log_s = time.perf_counter() - t_start
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    deadline = time.monotonic() + 120
    while sink.events - before < n and time.monotonic() < deadline:
        client.flush(1)
        time.sleep(0.05)
    drain_s = time.perf_counter() - t_start
    received = len(sink.ids & set(ids))
    s = client.stats()
    client.shutdown()
    return {
        "n": n,
        "log_p50_us": statistics.median(lat),
        "log_p99_us": pct(lat, 99),
        "log_total_s": log_s,
        "delivered": received,
        "lost": n - received,
        "spooled": s.spooled,
        "dropped": s.dropped_total,
        "drain_s": drain_s,
        "rss_growth_mb": (rss1 - rss0) / 1024,
    }


def ingestion_down(fake_url: str, rounds: int, seed: int, log_calls: int) -> dict[str, Any]:
    """With nothing listening on the ingestion port: ``rounds`` pairs of calls (bare LiteLLM and
    prism-sdk, in a random order) and the paired difference; then ``log_calls`` ``log()`` calls into a
    full queue (``max_queue=100``, no spool), timed together."""
    import litellm
    import prism_sdk

    from tests.support.net import free_port

    down = f"http://127.0.0.1:{free_port()}"
    client = prism_sdk.init(ingest_url=down, api_key="k", timeout=0.5)
    kw = {
        "model": "openai/gpt-4o-mini",
        "api_base": fake_url,
        "api_key": "x",
        "messages": [{"role": "user", "content": "hi"}],
    }
    fns = {"bare": lambda: litellm.completion(**kw), "prism": lambda: prism_sdk.completion(**kw)}
    for fn in fns.values():
        for _ in range(20):
            fn()
    rng = random.Random(seed)
    order = list(fns)
    added: list[float] = []
    clock = time.perf_counter_ns
    for _ in range(rounds):
        rng.shuffle(order)
        took = {}
        for name in order:
            t0 = clock()
            fns[name]()
            took[name] = (clock() - t0) / 1000
        added.append(took["prism"] - took["bare"])
    s = client.stats()
    prism_sdk.init(enabled=False)
    full = prism_sdk.Prism(ingest_url=down, api_key="k", max_queue=100, timeout=0.5)
    evs = [
        {"id": str(uuid.uuid4()), "ts_start": "2026-11-27T07:00:00Z", "provider": "p", "model": "m", "status": "ok"}
        for _ in range(log_calls)
    ]
    t0 = clock()
    for e in evs:
        full.log(e)
    per_log = (clock() - t0) / 1000 / log_calls
    dropped = full.stats().dropped.get("queue_full", 0)
    full.shutdown(timeout=0.5)
    return {"added": added, "sent": s.sent, "retried": s.retried, "per_log": per_log, "dropped": dropped}


def stamp_lag(fake: Any, n: int) -> dict[tuple[str, str], list[float]]:
    """``n`` wrapped streams per mode (sync, async; first content chunk after 20 ms, 3 more 10 ms
    apart): the event's ``ts_first_token`` minus when the fake sent the first content chunk, and its
    ``ts_end`` minus when the fake sent the last chunk, in ms (the same wall clock)."""
    import asyncio
    import datetime as dt

    import prism_sdk

    from tests.support.fake_openai import Behaviour

    def wall(s: str) -> float:
        return dt.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()

    kw = {
        "model": "openai/gpt-4o-mini",
        "api_base": fake.base_url,
        "api_key": "x",
        "messages": [{"role": "user", "content": "hi"}],
    }
    behaviour = Behaviour(chunks=["a", "b", "c", "d"], first_token_delay=0.02, inter_token_delay=0.01)

    def sync_stream() -> Any:
        st = prism_sdk.completion(**kw, stream=True)
        for _ in st:
            pass
        return st

    async def async_stream() -> Any:
        st = await prism_sdk.acompletion(**kw, stream=True)
        async for _ in st:
            pass
        return st

    out: dict[tuple[str, str], list[float]] = {}
    for mode, run in (("sync", sync_stream), ("async", lambda: asyncio.run(async_stream()))):
        first, end = out.setdefault((mode, "ts_first_token"), []), out.setdefault((mode, "ts_end"), [])
        for _ in range(n):
            fake.reset()
            fake.behaviour = behaviour
            ev = prism_sdk.event_of(run())
            req = fake.chat_requests[-1]
            first.append((wall(ev["ts_first_token"]) - req.first_content_at) * 1000)
            end.append((wall(ev["ts_end"]) - req.last_chunk_at) * 1000)
    return out


def report(res: dict[tuple[str, bool], Any], rounds: int) -> None:
    print(f"\nPer-call latency, {rounds} rounds (one call per mode per round, random order), µs")
    print("added = median over rounds of (mode - bare in the same round), [95% CI]")
    print("own   = the same for the time spent outside LiteLLM: the instrumentation's own caller path")
    print(
        f"{'mode':<16}{'stream':<7}{'p50':>8}{'p99':>8}{'added p50 [95% CI]':>26}{'own p50 [95% CI]':>24}{'own p99':>9}"
    )
    for stream in (False, True):
        total, outside = res[("total", stream)], res[("outside", stream)]
        bt, bo = total["litellm (bare)"], outside["litellm (bare)"]
        for name in MODES:
            xs = total[name]
            line = f"{name:<16}{'yes' if stream else 'no':<7}{statistics.median(xs):>8.0f}{pct(xs, 99):>8.0f}"
            if name == "litellm (bare)":
                print(line + f"{'-':>26}{'-':>24}{'-':>9}")
                continue
            added = [a - b for a, b in zip(xs, bt, strict=True)]
            own = [a - b for a, b in zip(outside[name], bo, strict=True)]
            m, lo, hi = median_ci(added)
            om, olo, ohi = median_ci(own)
            a_txt = f"{m:+.1f} [{lo:+.1f}, {hi:+.1f}]"
            o_txt = f"{om:.1f} [{olo:.1f}, {ohi:.1f}]"
            print(line + f"{a_txt:>26}{o_txt:>24}{pct(own, 99):>9.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", "--calls", type=int, default=1500, help="rounds (calls per mode and streaming flag)")
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--burst", type=int, default=100_000)
    ap.add_argument("--record-burst", type=int, default=20_000, help="calls made with llm_call in a burst")
    ap.add_argument("--exit-burst", type=int, default=3000, help="calls before os._exit (0: skip)")
    ap.add_argument("--exit-runs", type=int, default=5)
    ap.add_argument("--skip-calls", action="store_true", help="only the bursts")
    ap.add_argument("--down-rounds", type=int, default=500, help="call pairs with ingestion down (0: skip)")
    ap.add_argument("--stamp-streams", type=int, default=200, help="streams per mode for the stamp lag (0: skip)")
    args = ap.parse_args()

    from tests.support.fake_openai import FakeOpenAI

    sink = Sink()
    os.environ.update(
        {
            "LANGFUSE_PUBLIC_KEY": "pk-lf-bench",
            "LANGFUSE_SECRET_KEY": "sk-lf-bench",
            "LANGFUSE_HOST": sink.url,
            "LANGFUSE_BASE_URL": sink.url,
        }
    )
    import prism_sdk

    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if not args.skip_calls:
        prism_sdk.init(ingest_url=sink.url, api_key="k")
        with FakeOpenAI() as fake:
            res = measure_calls(fake.base_url, args.rounds, args.warmup, args.seed)
        prism_sdk.flush(10)
        report(res, args.rounds)
        s = prism_sdk.stats()
        print(f"prism events delivered: {s.sent} (dropped {s.dropped_total}); ", end="")
        print(f"langfuse OTLP requests: {sink.otel_requests}")
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.burst:
        r = burst(sink, args.burst)
        print(f"\nBurst of {r['n']:,} log() calls, spool on")
        for k, v in r.items():
            print(f"  {k:<16}{v:.2f}" if isinstance(v, float) else f"  {k:<16}{v}")
    if args.record_burst:
        r = burst_records(sink, args.record_burst)
        print(f"\nBurst of {r['n']:,} calls made with llm_call, spool on")
        for k, v in r.items():
            print(f"  {k:<16}{v:.2f}" if isinstance(v, float) else f"  {k:<16}{v}")
    if args.exit_burst:
        runs = exit_after_burst(sink, args.exit_burst, args.exit_runs)
        print(f"\n{args.exit_burst:,} llm_call calls then os._exit(0), spool on, {len(runs)} runs")
        print(f"  {'calls ms':>9}{'sent before exit':>18}{'delivered':>11}{'lost':>7}")
        for r in runs:
            print(f"  {r['calls_ms']:>9.1f}{r['sent_before_exit']:>18}{r['delivered']:>11}{r['lost']:>7}")
    if args.down_rounds or args.stamp_streams:
        prism_sdk.init(enabled=False)
        with FakeOpenAI() as fake:
            if args.down_rounds:
                d = ingestion_down(fake.base_url, args.down_rounds, args.seed, log_calls=20_000)
                m, lo, hi = median_ci(d["added"])
                print(
                    f"\nIngestion down (nothing listens), {args.down_rounds} rounds of bare + prism-sdk "
                    "in a random order, µs"
                )
                print(f"  {'added p50 [95% CI]':>26}{'added p99':>11}{'added max':>11}{'sent':>6}{'retried':>9}")
                print(
                    f"  {f'{m:+.1f} [{lo:+.1f}, {hi:+.1f}]':>26}{pct(d['added'], 99):>+11.1f}"
                    f"{max(d['added']):>+11.1f}{d['sent']:>6}{d['retried']:>9}"
                )
                print(
                    f"  log() into a full queue (max_queue=100): {d['per_log']:.2f} µs per call, "
                    f"{d['dropped']:,} dropped"
                )
            if args.stamp_streams:
                lag = stamp_lag(fake, args.stamp_streams)
                print(f"\nEvent stamp - provider send time, {args.stamp_streams} streams per mode, ms")
                print(f"  {'mode':<7}{'stamp':<16}{'min':>9}{'p50':>9}{'p99':>9}{'max':>9}")
                for (mode, stamp), xs in lag.items():
                    print(
                        f"  {mode:<7}{stamp:<16}{min(xs):>9.2f}{statistics.median(xs):>9.2f}"
                        f"{pct(xs, 99):>9.2f}{max(xs):>9.2f}"
                    )


if __name__ == "__main__":
    main()
