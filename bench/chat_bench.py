"""Chat overhead: TTFT and total time through the chat API vs LiteLLM called directly.

Both paths stream from the same fake OpenAI-compatible server with a fixed delay; the turns
alternate (direct, chat, direct, ...) so drift hits both alike. The chat API runs as its own
uvicorn process on real PostgreSQL (a throwaway database), with prism-sdk logging every call to a
local sink. Goal (issue 4 §5): under 5 ms added at p50.

    uv run python -m bench.chat_bench [--turns 200] [--first-token-ms 20] [--chunks 10] [--gap-ms 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from tests.support.auth import Caller, Callers, test_identity
from tests.support.fake_openai import Behaviour, FakeOpenAI

MODEL = "fake-model"


@dataclass
class Samples:
    ttft: list[float] = field(default_factory=list)
    total: list[float] = field(default_factory=list)
    closed: list[float] = field(default_factory=list)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Sink(BaseHTTPRequestHandler):
    """Accepts prism-sdk's event batches (202) so the chat's SDK does its real work."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        body = b'{"accepted": 0}'
        self.send_response(202)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        return


async def direct_turn(base_url: str, messages: list[dict[str, str]]) -> tuple[float, float]:
    import litellm

    t0 = time.perf_counter()
    ttft = None
    resp = await litellm.acompletion(
        model=f"openai/{MODEL}",
        api_base=base_url,
        api_key="bench",
        messages=messages,
        stream=True,
        stream_options={"include_usage": True},
        num_retries=0,
        max_retries=0,
    )
    async for chunk in resp:
        if ttft is None and chunk.choices and chunk.choices[0].delta.content:
            ttft = time.perf_counter() - t0
    total = time.perf_counter() - t0
    assert ttft is not None
    return ttft * 1000, total * 1000


class SSEClient:
    """A minimal keep-alive HTTP/1.1 client for ``POST`` + SSE (chunked), so the client's own cost
    (httpx adds about a millisecond per request) does not count as the chat API's."""

    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        self.host, self.port = host, port
        self._headers = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def post_sse(self, path: str, body: dict[str, Any]) -> AsyncIterator[tuple[str, str]]:
        if self._writer is None or self._writer.is_closing():
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        reader, writer = self._reader, self._writer
        assert reader is not None
        payload = json.dumps(body).encode()
        writer.write(
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Type: application/json\r\n"
            f"Accept: text/event-stream\r\n{self._headers}Content-Length: {len(payload)}\r\n\r\n".encode()
            + payload
        )
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(head.decode(errors="replace"))
        buffer = b""
        event = ""
        while True:
            size = int((await reader.readline()).strip(), 16)
            if size == 0:
                await reader.readline()
                return
            buffer += await reader.readexactly(size)
            await reader.readline()
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                if line.startswith(b"event: "):
                    event = line[7:].decode()
                elif line.startswith(b"data: "):
                    yield event, line[6:].decode()

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


async def chat_turn(client: SSEClient, cid: str, content: str) -> tuple[float, float, float]:
    """TTFT (first delta), total (``done``: the reply complete, with usage and cost) and the
    response's end (the reply stored), in ms."""
    t0 = time.perf_counter()
    ttft = total = None
    status = None
    body = {"content": content, "model": f"openai_compatible/{MODEL}"}
    async for event, data in client.post_sse(f"/api/conversations/{cid}/messages", body):
        if event == "delta" and ttft is None:
            ttft = time.perf_counter() - t0
        elif event == "done":
            total = time.perf_counter() - t0
            status = json.loads(data)["status"]
    closed = time.perf_counter() - t0
    assert ttft is not None and total is not None and status == "complete", status
    return ttft * 1000, total * 1000, closed * 1000


def start_chat(db_url: str, sink_url: str, port: int) -> subprocess.Popen[bytes]:
    from cryptography.fernet import Fernet

    env = {
        **os.environ,
        "PRISM_ENV": "test",
        "PRISM_DATABASE_URL": db_url,
        "PRISM_CREDS_KEY": Fernet.generate_key().decode(),
        "PRISM_DEMO_MODEL": "false",
        "PRISM_INGEST_URL": sink_url,
        "PRISM_API_KEY": "bench",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    }
    cmd = [sys.executable, "-m", "uvicorn", "chat.app:app", "--port", str(port), "--log-level", "warning"]
    log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the server
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
        if proc.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"chat API exited: {log.read().decode(errors='replace')[-2000:]}")
    proc.terminate()
    raise RuntimeError("chat API did not start")


def sign_in(db_url: str) -> Caller:
    """An admin signed in to the chat's database (the chat needs a session; an admin may also set the
    provider up): the session cookie and the CSRF header, sent on every request."""
    from prism.adapters.postgres_identity import PostgresIdentityStore

    store = PostgresIdentityStore(db_url)
    try:
        return Callers(test_identity(store)).session("admin")
    finally:
        store.close()


async def run(args: argparse.Namespace, fake: FakeOpenAI, chat_url: str, admin: Caller) -> tuple[Samples, Samples]:
    import litellm

    litellm.suppress_debug_info = True
    direct, chat = Samples(), Samples()
    cookie = "; ".join(f"{k}={v}" for k, v in admin.cookies.items())
    sse = SSEClient("127.0.0.1", int(chat_url.rsplit(":", 1)[1]), {"Cookie": cookie, **admin.headers})
    async with httpx.AsyncClient(base_url=chat_url, timeout=30, cookies=admin.cookies, headers=admin.headers) as client:
        resp = await client.put(
            "/api/settings/providers/openai_compatible", json={"base_url": fake.base_url, "models": [MODEL]}
        )
        resp.raise_for_status()
        cid = ""
        history: list[dict[str, str]] = []
        for i in range(args.warmup + args.turns):
            if i % args.turns_per_conversation == 0:
                cid = (await client.post("/api/conversations", json={})).json()["id"]
                history = []
            content = f"question {i}: how fast is this?"
            history.append({"role": "user", "content": content})
            await asyncio.sleep(args.pause_ms / 1000)
            d = await direct_turn(fake.base_url, history)
            await asyncio.sleep(args.pause_ms / 1000)
            c = await chat_turn(sse, cid, content)
            history.append({"role": "assistant", "content": fake.behaviour.text})
            if i >= args.warmup:
                direct.ttft.append(d[0])
                direct.total.append(d[1])
                chat.ttft.append(c[0])
                chat.total.append(c[1])
                chat.closed.append(c[2])
    await sse.close()
    return direct, chat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--first-token-ms", type=float, default=20.0)
    parser.add_argument("--chunks", type=int, default=10)
    parser.add_argument("--gap-ms", type=float, default=2.0)
    parser.add_argument("--turns-per-conversation", type=int, default=10)
    parser.add_argument(
        "--pause-ms", type=float, default=50.0, help="idle time before each turn (a user reading the reply)"
    )
    args = parser.parse_args()

    from prism.adapters.postgres import drop_database, migrate

    admin = os.environ.get("PRISM_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
    db_url = admin.rsplit("/", 1)[0] + f"/prism_bench_chat_{uuid.uuid4().hex[:10]}"
    migrate(db_url, profile="postgres")
    sink = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    sink_url = f"http://127.0.0.1:{sink.server_address[1]}"
    behaviour = Behaviour(
        text=" ".join(f"word{i}" for i in range(args.chunks)),
        first_token_delay=args.first_token_ms / 1000,
        inter_token_delay=args.gap_ms / 1000,
    )
    proc = None
    try:
        with FakeOpenAI(behaviour) as fake:
            fake.models = [MODEL]
            port = free_port()
            proc = start_chat(db_url, sink_url, port)
            direct, chat = asyncio.run(run(args, fake, f"http://127.0.0.1:{port}", sign_in(db_url)))
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)
        sink.shutdown()
        drop_database(db_url)

    def row(name: str, s: Samples) -> str:
        return (
            f"| {name:<24} | {pct(s.ttft, 50):8.2f} | {pct(s.ttft, 99):8.2f} "
            f"| {pct(s.total, 50):9.2f} | {pct(s.total, 99):9.2f} |"
        )

    added_ttft = [c - d for c, d in zip(chat.ttft, direct.ttft, strict=True)]
    added_total = [c - d for c, d in zip(chat.total, direct.total, strict=True)]
    print(
        f"\nChat bench: {args.turns} turns per path (after {args.warmup} warm-up), fake provider: "
        f"first token {args.first_token_ms:g} ms, {args.chunks} chunks {args.gap_ms:g} ms apart; times in ms"
    )
    print()
    print("| path                     | TTFT p50 | TTFT p99 | total p50 | total p99 |")
    print("|--------------------------|---------:|---------:|----------:|----------:|")
    print(row("LiteLLM direct", direct))
    print(row("chat API (HTTP + SSE)", chat))
    print(
        f"| {'added by the chat API':<24} | {pct(chat.ttft, 50) - pct(direct.ttft, 50):8.2f} "
        f"| {pct(chat.ttft, 99) - pct(direct.ttft, 99):8.2f} "
        f"| {pct(chat.total, 50) - pct(direct.total, 50):9.2f} "
        f"| {pct(chat.total, 99) - pct(direct.total, 99):9.2f} |"
    )
    print(
        f"\nPaired per turn: added TTFT p50 {statistics.median(added_ttft):.2f} ms, "
        f"added total p50 {statistics.median(added_total):.2f} ms "
        f"(goal < 5 ms added at p50: TTFT {'met' if statistics.median(added_ttft) < 5 else 'NOT met'}, "
        f"total {'met' if statistics.median(added_total) < 5 else 'NOT met'})"
    )
    print(
        f"Chat response closed (reply stored) p50 {pct(chat.closed, 50):.2f} ms, "
        f"{pct(chat.closed, 50) - pct(chat.total, 50):.2f} ms after `done`"
    )


if __name__ == "__main__":
    main()
