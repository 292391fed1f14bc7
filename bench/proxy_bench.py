"""The web origin's forwarding (scripts/web.py): time to the first SSE byte, and to the whole
stream, direct to an upstream vs through the proxy.

The upstream is a small ASGI app on uvicorn (its own process) that answers
``POST /api/conversations/{id}/messages`` with an SSE stream: a first event at once, then
``--chunks`` more ``--gap-ms`` apart. The proxy is ``python -m scripts.web`` (its own process) with
``PRISM_CHAT_PORT`` pointing at it. Requests alternate (direct, proxy, direct, ...) on keep-alive
connections, so drift hits both alike.

    uv run python -m bench.proxy_bench [--requests 300] [--chunks 5] [--gap-ms 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


async def upstream_app(scope: dict, receive, send) -> None:  # type: ignore[no-untyped-def,type-arg]
    """The SSE upstream (run with ``--serve``)."""
    import asyncio

    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    chunks, gap = int(os.environ["BENCH_CHUNKS"]), float(os.environ["BENCH_GAP_MS"]) / 1000
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
    await send({"type": "http.response.body", "body": b'event: start\ndata: {"n": 0}\n\n', "more_body": True})
    for n in range(1, chunks + 1):
        await asyncio.sleep(gap)
        body = b'event: delta\ndata: {"n": %d}\n\n' % n
        await send({"type": "http.response.body", "body": body, "more_body": n < chunks})


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"{url}: the process exited"
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise TimeoutError(url)


def one(client: httpx.Client, url: str) -> tuple[float, float]:
    """Seconds to the first body byte, and to the end of the stream."""
    t0 = time.perf_counter()
    with client.stream("POST", url, json={"content": "hi", "model": "m"}) as resp:
        chunks = resp.iter_raw()
        next(chunks)
        first = time.perf_counter() - t0
        for _ in chunks:
            pass
    return first, time.perf_counter() - t0


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="per path")
    parser.add_argument("--chunks", type=int, default=5)
    parser.add_argument("--gap-ms", type=float, default=2.0)
    args = parser.parse_args()
    up_port, web_port = free_port(), free_port()
    path_dirs = [str(ROOT), str(ROOT / "functions"), os.environ.get("PYTHONPATH", "")]
    env = {
        **os.environ,
        "BENCH_CHUNKS": str(args.chunks),
        "BENCH_GAP_MS": str(args.gap_ms),
        "PRISM_CHAT_PORT": str(up_port),  # where scripts/web.py forwards /api/conversations
        "PRISM_WEB_PORT": str(web_port),
        "PYTHONPATH": os.pathsep.join(path_dirs),
    }

    def spawn(*argv: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", *argv], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, env=env, cwd=ROOT)  # fmt: skip

    upstream = spawn("uvicorn", "bench.proxy_bench:upstream_app", "--port", str(up_port), "--log-level", "warning",
                     "--no-access-log")  # fmt: skip
    web = spawn("scripts.web", "--port", str(web_port))
    try:
        wait_up(f"http://127.0.0.1:{up_port}/", upstream)
        wait_up(f"http://127.0.0.1:{web_port}/config.json", web)
        path = "/api/conversations/c1/messages"
        urls = {"direct": f"http://127.0.0.1:{up_port}{path}", "proxy": f"http://127.0.0.1:{web_port}{path}"}
        samples: dict[str, tuple[list[float], list[float]]] = {k: ([], []) for k in urls}
        with httpx.Client(timeout=10) as direct, httpx.Client(timeout=10) as proxied:
            clients = {"direct": direct, "proxy": proxied}
            for name, url in urls.items():  # warm-up: connections, imports
                for _ in range(20):
                    one(clients[name], url)
            for _ in range(args.requests):
                for name, url in urls.items():
                    first, total = one(clients[name], url)
                    samples[name][0].append(first * 1000)
                    samples[name][1].append(total * 1000)
    finally:
        for proc in (web, upstream):
            proc.terminate()
            proc.wait(10)
    print(f"SSE through scripts/web.py vs direct: {args.requests} streams each, 1 + {args.chunks} events "
          f"{args.gap_ms:g} ms apart (ms)")  # fmt: skip
    print(f"{'path':<8} {'first byte p50':>14} {'p95':>7} {'p99':>7}   {'whole p50':>9} {'p95':>7}")
    for name, (first, total) in samples.items():
        print(f"{name:<8} {pct(first, 50):>14.2f} {pct(first, 95):>7.2f} {pct(first, 99):>7.2f}   "
              f"{pct(total, 50):>9.2f} {pct(total, 95):>7.2f}")  # fmt: skip
    added = statistics.median(samples["proxy"][0]) - statistics.median(samples["direct"][0])
    print(f"added by the proxy to the first byte, p50: {added:.2f} ms")


if __name__ == "__main__":
    main()
