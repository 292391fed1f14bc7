"""A fake OpenAI-compatible HTTP server for tests and benchmarks.

It speaks just enough HTTP/1.1 (keep-alive, chunked SSE) for LiteLLM's real HTTP path
(``openai`` SDK over httpx, or aiohttp) and runs an asyncio loop in a daemon thread on
127.0.0.1, on a free port.

Usage::

    from tests.support.fake_openai import Behaviour, FakeOpenAI

    with FakeOpenAI() as fake:
        fake.behaviour = Behaviour(chunks=["Hel", "lo"], first_token_delay=0.2)
        litellm.completion(model="openai/fake", api_base=fake.base_url, api_key="x",
                           messages=[...], stream=True, stream_options={"include_usage": True})
        req = fake.requests[-1]
        assert req.body["messages"][0]["content"] == "..."
        assert req.completed and not req.disconnected

Endpoints:

* ``POST /v1/chat/completions``: streaming (``"stream": true``: SSE ``data: {chunk}`` lines in
  OpenAI format, a final usage chunk when ``stream_options.include_usage`` is true, then
  ``data: [DONE]``) and non-streaming (one ``chat.completion`` JSON object).
* ``GET /v1/models``: the model list (``Behaviour.model`` plus ``FakeOpenAI.models``).

Choosing the behaviour of a request (first match wins):

1. ``fake.enqueue(b1, b2, ...)``: a FIFO of one-shot behaviours, one consumed per request
   (e.g. a 429 and then a success);
2. ``fake.by_model["name"] = b``: per requested model name;
3. ``fake.behaviour``: the default (settable at any time; ``fake.reset()`` restores it).

Every request is recorded as a :class:`RecordedRequest` in ``fake.requests`` (thread-safe
snapshot list) with its parsed JSON body, headers, whether the response was sent completely
(``completed``) and whether the client went away before the end (``disconnected``: e.g. the
caller cancelled the stream and the HTTP connection was closed), and the wall-clock times at which
the first content chunk and the last chunk were sent (``first_content_at``, ``last_chunk_at``).
``fake.wait_for_requests(n)``
and ``RecordedRequest.wait_done()`` help to wait for a background client.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Behaviour", "FakeOpenAI", "RecordedRequest"]


@dataclass
class Behaviour:
    """How the fake answers one chat completion request.

    Attributes:
        text: the assistant's answer; split into word-sized chunks when ``chunks`` is None.
        chunks: the exact content deltas to stream (overrides ``text``).
        model: the model name put in responses (default: echo the requested model).
        first_token_delay: seconds between receiving the request and the first content chunk
            (streaming: the HTTP headers and an empty ``role`` chunk are sent at once, so a
            client's TTFT must come from the first *content* chunk); for non-streaming calls the
            whole answer is delayed by ``first_token_delay + inter_token_delay * (n - 1)``.
        inter_token_delay: seconds between two content chunks.
        role_chunk_first: send the ``{"role": "assistant", "content": ""}`` chunk immediately.
        finish_reason: the last chunk's / choice's finish reason.
        tool_calls: OpenAI-shaped tool calls (``[{"id", "type", "function": {"name", "arguments"}}]``)
            returned with the answer (streamed as one delta before the finish chunk).
        usage: the usage object; default: prompt_tokens = words in the request messages,
            completion_tokens = number of chunks. Include ``prompt_tokens_details`` /
            ``completion_tokens_details`` to exercise cached / reasoning tokens.
        usage_in_stream: send the usage chunk when ``stream_options.include_usage`` is set.
        error_status: answer this HTTP status instead (with ``error_body``).
        error_body: JSON body (dict) or raw text of the error; default an OpenAI error object.
        retry_after: value of a ``Retry-After`` header sent with the error (e.g. ``"1"``).
        disconnect_after: streaming only: close the TCP connection abruptly after this many
            content chunks (a mid-stream provider failure).
        hang: seconds to wait before sending anything (for client timeouts); the wait ends
            early when the client disconnects or the server stops.
        headers: extra response headers.
        gates: streaming only: content chunk ``i`` is sent only once ``gates[i]`` (a
            ``threading.Event`` the test sets) is set; the wait ends early when the client
            disconnects or the server stops. Paces a reply by the test's steps, not by sleeps.
    """

    text: str = "Hello from the fake model."
    chunks: list[str] | None = None
    model: str | None = None
    first_token_delay: float = 0.0
    inter_token_delay: float = 0.0
    role_chunk_first: bool = True
    finish_reason: str = "stop"
    tool_calls: list[dict[str, Any]] | None = None
    usage: dict[str, Any] | None = None
    usage_in_stream: bool = True
    error_status: int | None = None
    error_body: dict[str, Any] | str | None = None
    retry_after: str | None = None
    disconnect_after: int | None = None
    hang: float | None = None
    headers: dict[str, str] = field(default_factory=dict)
    gates: dict[int, threading.Event] = field(default_factory=dict)

    def content_chunks(self) -> list[str]:
        if self.chunks is not None:
            return list(self.chunks)
        words = self.text.split(" ")
        return [w if i == 0 else " " + w for i, w in enumerate(words) if w or i == 0]


@dataclass
class RecordedRequest:
    """One request the fake received."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    raw_body: bytes
    received_at: float  # time.monotonic()
    stream: bool = False
    completed: bool = False
    disconnected: bool = False
    status: int | None = None
    chunks_sent: int = 0
    #: wall-clock times (``time.time()``) at which the response's first content chunk and its last chunk
    #: (``data: [DONE]``; the whole body when not streaming) were handed to the socket: compare a
    #: client's TTFT and end time with these rather than with the configured delays.
    first_content_at: float | None = None
    last_chunk_at: float | None = None
    _done: threading.Event = field(default_factory=threading.Event, repr=False)

    def wait_done(self, timeout: float = 5.0) -> bool:
        """Wait until the server finished with this request (sent all of it, or the client left)."""
        return self._done.wait(timeout)


class FakeOpenAI:
    """The fake server. ``with FakeOpenAI() as fake: ...`` or ``start()`` / ``stop()``."""

    def __init__(self, behaviour: Behaviour | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self._default = behaviour or Behaviour()
        self.behaviour: Behaviour = self._default
        self.by_model: dict[str, Behaviour] = {}
        self.models: list[str] = ["fake-model"]
        # When set, ``GET /v1/models`` answers 401 unless ``Authorization: Bearer <models_key>``.
        self.models_key: str | None = None
        self._queue: deque[Behaviour] = deque()
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._host = host
        self._port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.AbstractServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping: asyncio.Event | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    # ------------------------------------------------------------------ public API
    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (no ``/v1``)."""
        return f"http://{self._host}:{self._port}"

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``: pass as LiteLLM's ``api_base`` / OpenAI's ``base_url``."""
        return f"{self.url}/v1"

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def enqueue(self, *behaviours: Behaviour) -> None:
        """Queue one-shot behaviours, consumed one per chat request before ``by_model``/``behaviour``."""
        with self._lock:
            self._queue.extend(behaviours)

    def reset(self) -> None:
        """Forget recorded requests and queued/per-model behaviours; restore the default behaviour."""
        with self._lock:
            self._requests.clear()
            self._queue.clear()
            self.by_model.clear()
            self.behaviour = self._default
            self.models_key = None

    def wait_for_requests(self, n: int, timeout: float = 5.0) -> list[RecordedRequest]:
        """Block until at least ``n`` requests arrived; return them (raises TimeoutError)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._requests) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"fake OpenAI got {len(self._requests)} requests, wanted {n}")
                self._cond.wait(left)
            return list(self._requests)

    def start(self) -> FakeOpenAI:
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                self._stopping = asyncio.Event()
                self._server = loop.run_until_complete(
                    asyncio.start_server(self._handle, self._host, self._port, backlog=512)
                )
                self._port = self._server.sockets[0].getsockname()[1]
            except BaseException as exc:
                errors.append(exc)
                ready.set()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name="fake-openai", daemon=True)
        self._thread.start()
        ready.wait(10)
        if errors:
            raise errors[0]
        return self

    def stop(self) -> None:
        loop = self._loop
        if loop is None or self._thread is None:
            return

        async def shutdown() -> None:
            assert self._stopping is not None
            self._stopping.set()
            if self._server is not None:
                self._server.close()
            for w in list(self._writers):
                w.close()
            await asyncio.sleep(0)
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(shutdown(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(5)
        self._loop = None
        self._thread = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ internals
    def _pick(self, model: str | None) -> Behaviour:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
            if model is not None and model in self.by_model:
                return self.by_model[model]
            return self.behaviour

    def _record(self, req: RecordedRequest) -> None:
        with self._cond:
            self._requests.append(req)
            self._cond.notify_all()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, target, _version = lines[0].split(" ", 2)
                headers: dict[str, str] = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                raw = b""
                if "content-length" in headers:
                    raw = await reader.readexactly(int(headers["content-length"]))
                elif headers.get("transfer-encoding", "").lower() == "chunked":
                    raw = await self._read_chunked(reader)
                try:
                    body: Any = json.loads(raw) if raw else None
                except ValueError:
                    body = None
                req = RecordedRequest(
                    method=method,
                    path=target.split("?", 1)[0],
                    headers=headers,
                    body=body,
                    raw_body=raw,
                    received_at=time.monotonic(),
                )
                self._record(req)
                keep_alive = headers.get("connection", "").lower() != "close"
                try:
                    keep_alive = await self._dispatch(req, reader, writer) and keep_alive
                finally:
                    req._done.set()
                if not keep_alive:
                    return
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            return  # client gone, or server stopping (do not re-raise: keeps stop() quiet)
        finally:
            self._writers.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()

    @staticmethod
    async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
        out = bytearray()
        while True:
            size = int((await reader.readline()).strip().split(b";")[0], 16)
            if size == 0:
                await reader.readline()
                return bytes(out)
            out += await reader.readexactly(size)
            await reader.readline()

    async def _dispatch(
        self, req: RecordedRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Answer one request; return False when the connection must be closed."""
        if req.method == "GET" and req.path.rstrip("/").endswith("/models"):
            if self.models_key is not None and req.headers.get("authorization") != f"Bearer {self.models_key}":
                error = {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}}
                await self._send_json(req, writer, 401, error)
                return True
            names = list(dict.fromkeys([*self.models, *(b.model for b in [self.behaviour] if b.model)]))
            data = {
                "object": "list",
                "data": [{"id": n, "object": "model", "owned_by": "fake"} for n in names],
            }
            await self._send_json(req, writer, 200, data)
            return True
        if req.method != "POST" or not req.path.rstrip("/").endswith("/chat/completions"):
            await self._send_json(req, writer, 404, {"error": {"message": "not found", "type": "not_found"}})
            return True
        body = req.body if isinstance(req.body, dict) else {}
        requested = body.get("model")
        b = self._pick(requested if isinstance(requested, str) else None)
        req.stream = bool(body.get("stream"))
        watcher = asyncio.ensure_future(self._watch_eof(reader))
        try:
            if b.hang is not None and await self._sleep_or_eof(b.hang, watcher):
                req.disconnected = True
                return False
            if b.error_status is not None:
                return await self._send_error(req, writer, b, watcher)
            if req.stream:
                return await self._stream(req, writer, b, body, watcher)
            return await self._complete(req, writer, b, body, watcher)
        finally:
            watcher.cancel()
            with contextlib.suppress(BaseException):
                await watcher

    async def _watch_eof(self, reader: asyncio.StreamReader) -> None:
        # Clients do not pipeline requests, so any read completing here means EOF/reset.
        with contextlib.suppress(Exception):
            await reader.read(1)

    async def _sleep_or_eof(self, seconds: float, watcher: asyncio.Future[None]) -> bool:
        """Sleep; return True if the client disconnected (or the server stopped) meanwhile."""
        if seconds <= 0:
            return watcher.done()
        assert self._stopping is not None
        stop = asyncio.ensure_future(self._stopping.wait())
        try:
            done, _ = await asyncio.wait(
                {watcher, stop}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            stop.cancel()
        return bool(done)

    async def _send_json(
        self,
        req: RecordedRequest,
        writer: asyncio.StreamWriter,
        status: int,
        data: Any,
        extra: dict[str, str] | None = None,
    ) -> None:
        payload = data.encode() if isinstance(data, str) else json.dumps(data).encode()
        ctype = "text/plain" if isinstance(data, str) else "application/json"
        head = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}", f"Content-Type: {ctype}"]
        head.append(f"Content-Length: {len(payload)}")
        for k, v in (extra or {}).items():
            head.append(f"{k}: {v}")
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + payload)
        await writer.drain()
        req.status = status
        req.completed = True

    async def _send_error(
        self, req: RecordedRequest, writer: asyncio.StreamWriter, b: Behaviour, watcher: asyncio.Future[None]
    ) -> bool:
        status = b.error_status or 500
        body: dict[str, Any] | str = (
            b.error_body
            if b.error_body is not None
            else {
                "error": {
                    "message": f"fake error {status}",
                    "type": "rate_limit_error" if status == 429 else "server_error",
                    "code": str(status),
                }
            }
        )
        extra = dict(b.headers)
        if b.retry_after is not None:
            extra["Retry-After"] = b.retry_after
        await self._send_json(req, writer, status, body, extra)
        return True

    def _usage(self, b: Behaviour, body: dict[str, Any], n_chunks: int) -> dict[str, Any]:
        if b.usage is not None:
            return dict(b.usage)
        prompt = 0
        for m in body.get("messages") or []:
            c = m.get("content") if isinstance(m, dict) else None
            if isinstance(c, str):
                prompt += len(c.split())
        return {"prompt_tokens": prompt, "completion_tokens": n_chunks, "total_tokens": prompt + n_chunks}

    async def _complete(
        self,
        req: RecordedRequest,
        writer: asyncio.StreamWriter,
        b: Behaviour,
        body: dict[str, Any],
        watcher: asyncio.Future[None],
    ) -> bool:
        chunks = b.content_chunks()
        delay = b.first_token_delay + b.inter_token_delay * max(0, len(chunks) - 1)
        if await self._sleep_or_eof(delay, watcher):
            req.disconnected = True
            return False
        message: dict[str, Any] = {"role": "assistant", "content": "".join(chunks)}
        if b.tool_calls:
            message["tool_calls"] = b.tool_calls
        data = {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": b.model or body.get("model") or "fake-model",
            "choices": [{"index": 0, "message": message, "finish_reason": b.finish_reason, "logprobs": None}],
            "usage": self._usage(b, body, len(chunks)),
            "system_fingerprint": "fp_fake",
        }
        req.first_content_at = req.last_chunk_at = time.time()
        await self._send_json(req, writer, 200, data, dict(b.headers))
        req.chunks_sent = len(chunks)
        return True

    async def _stream(
        self,
        req: RecordedRequest,
        writer: asyncio.StreamWriter,
        b: Behaviour,
        body: dict[str, Any],
        watcher: asyncio.Future[None],
    ) -> bool:
        chunks = b.content_chunks()
        cid = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        model = b.model or body.get("model") or "fake-model"
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": "fp_fake",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
            }

        async def send(data: dict[str, Any] | str) -> bool:
            if watcher.done() or writer.is_closing():
                return False
            line = "data: " + (data if isinstance(data, str) else json.dumps(data)) + "\n\n"
            raw = line.encode()
            try:
                sent_at = time.time()
                writer.write(f"{len(raw):x}\r\n".encode() + raw + b"\r\n")
                is_content = isinstance(data, dict) and any(c["delta"].get("content") for c in data["choices"])
                if is_content and req.first_content_at is None:
                    req.first_content_at = sent_at
                req.last_chunk_at = sent_at
                await writer.drain()
            except (ConnectionError, RuntimeError):
                return False
            return True

        head = [
            "HTTP/1.1 200 OK",
            "Content-Type: text/event-stream; charset=utf-8",
            "Cache-Control: no-cache",
            "Transfer-Encoding: chunked",
            *(f"{k}: {v}" for k, v in b.headers.items()),
        ]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        await writer.drain()
        req.status = 200

        def gone() -> bool:
            req.disconnected = True
            return False

        if b.role_chunk_first and not await send(chunk({"role": "assistant", "content": ""})):
            return gone()
        for i, text in enumerate(chunks):
            if b.disconnect_after is not None and i >= b.disconnect_after:
                writer.transport.abort()
                return False
            delay = b.first_token_delay if i == 0 else b.inter_token_delay
            if await self._sleep_or_eof(delay, watcher):
                return gone()
            gate = b.gates.get(i)
            while gate is not None and not gate.is_set():
                if await self._sleep_or_eof(0.01, watcher):
                    return gone()
            delta: dict[str, Any] = {"content": text}
            if i == 0 and not b.role_chunk_first:
                delta["role"] = "assistant"
            if not await send(chunk(delta)):
                return gone()
            req.chunks_sent = i + 1
        if b.disconnect_after is not None and b.disconnect_after <= len(chunks):
            writer.transport.abort()
            return False
        if b.tool_calls:
            tcs = [{"index": j, **tc} for j, tc in enumerate(b.tool_calls)]
            if not await send(chunk({"tool_calls": tcs})):
                return gone()
        if not await send(chunk({}, b.finish_reason)):
            return gone()
        if include_usage and b.usage_in_stream:
            usage_chunk = chunk({})
            usage_chunk["choices"] = []
            usage_chunk["usage"] = self._usage(b, body, len(chunks))
            if not await send(usage_chunk):
                return gone()
        if not await send("[DONE]"):
            return gone()
        try:
            writer.write(b"0\r\n\r\n")
            await writer.drain()
        except (ConnectionError, RuntimeError):
            return gone()
        req.completed = True
        return True


_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    408: "Request Timeout",
    413: "Payload Too Large",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
