"""prism-sdk benchmark: added latency per LiteLLM call (wrapped vs bare vs Langfuse), and a 100k burst.

Run: ``uv run python -m bench.sdk_bench`` (``--calls N`` to change the sample size).
Everything is local: the fake OpenAI server (tests/support/fake_openai.py) answers at once, and one
sink HTTP server accepts both Prism's batches and Langfuse's OTLP exports.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import statistics
import tempfile
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

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))]


def measure_calls(fake_url: str, calls: int) -> dict[tuple[str, bool], list[float]]:
    import litellm
    import prism_sdk

    msgs = [{"role": "user", "content": "Say hello in five words"}]
    kw = {"model": "openai/gpt-4o-mini", "api_base": fake_url, "api_key": "x", "messages": msgs}

    # Streams ask for usage in every mode (the wrapper would add it anyway): same request, same chunks,
    # so the difference is the SDK's own cost.
    def extra(stream: bool) -> dict[str, Any]:
        return {"stream": True, "stream_options": {"include_usage": True}} if stream else {}

    def bare(stream: bool) -> None:
        r = litellm.completion(**kw, **extra(stream))
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

    modes = {"litellm (bare)": bare, "prism-sdk": wrapped, "langfuse": langfuse}
    out: dict[tuple[str, bool], list[float]] = {(m, s): [] for m in modes for s in (False, True)}
    rounds = 10
    per = max(1, calls // rounds)
    for stream in (False, True):
        for fn in modes.values():  # warm up every path
            for _ in range(20):
                fn(stream)
        for _ in range(rounds):
            for name, fn in modes.items():
                for _ in range(per):
                    t0 = time.perf_counter_ns()
                    fn(stream)
                    out[(name, stream)].append((time.perf_counter_ns() - t0) / 1000)
    from langfuse import get_client

    get_client().flush()
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--calls", type=int, default=1000, help="calls per mode and streaming flag")
    ap.add_argument("--burst", type=int, default=100_000)
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

    prism_sdk.init(ingest_url=sink.url, api_key="k")
    with FakeOpenAI() as fake:
        res = measure_calls(fake.base_url, args.calls)
    prism_sdk.flush(10)
    print(f"\nPer-call latency, {args.calls} calls each, fake OpenAI on loopback (µs)")
    print(f"{'mode':<18}{'stream':<8}{'p50':>10}{'p99':>10}{'added p50':>12}{'added p99':>12}")
    for stream in (False, True):
        b = res[("litellm (bare)", stream)]
        for name in ("litellm (bare)", "prism-sdk", "langfuse"):
            xs = res[(name, stream)]
            add50 = statistics.median(xs) - statistics.median(b)
            add99 = pct(xs, 99) - pct(b, 99)
            if name == "litellm (bare)":
                add50 = add99 = 0.0
            print(
                f"{name:<18}{'yes' if stream else 'no':<8}{statistics.median(xs):>10.0f}{pct(xs, 99):>10.0f}"
                f"{add50:>12.0f}{add99:>12.0f}"
            )
    print(f"prism events delivered: {prism_sdk.stats().sent}; langfuse OTLP requests: {sink.otel_requests}")
    r = burst(sink, args.burst)
    print(f"\nBurst of {r['n']:,} log() calls, spool on")
    for k, v in r.items():
        print(f"  {k:<16}{v:.2f}" if isinstance(v, float) else f"  {k:<16}{v}")


if __name__ == "__main__":
    main()
