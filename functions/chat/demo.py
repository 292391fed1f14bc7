"""The offline demo model: an OpenAI-compatible endpoint Prism serves itself, on loopback.

With no provider key and no network, the chat still works end to end: the demo model is called
through LiteLLM's real HTTP path (``openai/prism-demo`` with ``api_base`` pointing here), so its
calls are logged by prism-sdk and show up in the metrics like any other model's.

The server runs in a daemon thread on ``127.0.0.1`` and a free port, started on first use. It
answers ``POST /v1/chat/completions`` (streaming or not) and ``GET /v1/models``.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from chat.catalog import DEMO_MODEL

if TYPE_CHECKING:
    import uvicorn

WORD_DELAY_S = 0.02


def demo_reply(messages: list[dict[str, Any]]) -> str:
    """A deterministic answer that says what the demo is and echoes the question."""
    last = ""
    for m in reversed(messages):
        if m.get("role") == "user" and isinstance(m.get("content"), str):
            last = m["content"]
            break
    quoted = " ".join(last.split())
    if len(quoted) > 120:
        quoted = quoted[:117] + "..."
    turns = sum(1 for m in messages if m.get("role") == "user")
    return (
        f'You said: "{quoted}". This is Prism\'s offline demo model: it runs inside Prism with no key '
        f"and no network, so you can try the chat, the logs and the metrics. This conversation has "
        f"{turns} message{'s' if turns != 1 else ''} from you so far. Add a provider key in Settings "
        "to talk to a real model."
    )


def _words(text: str) -> list[str]:
    parts = text.split(" ")
    return [p if i == 0 else " " + p for i, p in enumerate(parts)]


def _tokens(text: str) -> int:
    return max(1, len(text.split()))


def build_demo_app(word_delay_s: float = WORD_DELAY_S) -> FastAPI:
    app = FastAPI(title="Prism demo model", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": DEMO_MODEL, "object": "model", "owned_by": "prism"}]}

    @app.post("/v1/chat/completions")
    async def completions(request: Request) -> Response:
        try:
            body = json.loads(await request.body())
            messages = [m for m in body.get("messages", []) if isinstance(m, dict)]
        except (ValueError, AttributeError):
            return JSONResponse(
                {
                    "error": {
                        "message": "body must be a JSON chat completion request",
                        "type": "invalid_request",
                    }
                },
                status_code=400,
            )
        text = demo_reply(messages)
        prompt = sum(_tokens(str(m.get("content", ""))) for m in messages)
        completion = _tokens(text)
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
        cid = f"chatcmpl-demo-{uuid.uuid4().hex[:16]}"
        created = int(time.time())
        if not body.get("stream"):
            return JSONResponse(
                {
                    "id": cid,
                    "object": "chat.completion",
                    "created": created,
                    "model": DEMO_MODEL,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": text},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": usage,
                }
            )
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
            data = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": DEMO_MODEL,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            return f"data: {json.dumps(data)}\n\n"

        async def events() -> AsyncIterator[str]:
            yield chunk({"role": "assistant", "content": ""})
            for word in _words(text):
                await asyncio.sleep(word_delay_s)
                yield chunk({"content": word})
            yield chunk({}, "stop")
            if include_usage:
                final = {
                    "id": cid,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": DEMO_MODEL,
                    "choices": [],
                    "usage": usage,
                }
                yield f"data: {json.dumps(final)}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    return app


class DemoServer:
    """Serves :func:`build_demo_app` on 127.0.0.1 in a daemon thread, started on first use."""

    def __init__(self, word_delay_s: float = WORD_DELAY_S) -> None:
        self._word_delay_s = word_delay_s
        self._lock = threading.Lock()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``, starting the server if needed."""
        self.start()
        return f"http://127.0.0.1:{self._port}/v1"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, timeout: float = 10.0) -> None:
        with self._lock:
            if self.running:
                return
            import uvicorn  # only when the demo model is first used

            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", 0))
            self._port = int(sock.getsockname()[1])
            config = uvicorn.Config(
                build_demo_app(self._word_delay_s),
                log_level="warning",
                access_log=False,
                lifespan="off",
                timeout_graceful_shutdown=1,
            )
            server = uvicorn.Server(config)
            self._server = server
            self._thread = threading.Thread(
                target=server.run, kwargs={"sockets": [sock]}, name="prism-demo-model", daemon=True
            )
            self._thread.start()
            deadline = time.monotonic() + timeout
            while not server.started:
                if time.monotonic() > deadline or not self._thread.is_alive():
                    raise RuntimeError("the demo model server did not start")
                time.sleep(0.01)

    def stop(self) -> None:
        with self._lock:
            if self._server is not None:
                self._server.should_exit = True
            if self._thread is not None:
                self._thread.join(5)
            self._server = None
            self._thread = None
