"""An upstream whose answers a test drives: raw ASGI (nothing buffers), served by uvicorn
(``tests.support.net.ThreadServer``). Used by the tests of the web origin's forwarding
(scripts/web.py, web/docker/nginx.conf) and by bench/proxy_bench.py.

- ``.../stream``: an SSE chunk, then waits for ``release`` (set by the test), then the last chunk;
- ``.../hold``: an SSE chunk, then waits for the client to go away (``disconnected``);
- any other path: reads the body (``first_chunk`` once a chunk is in), answers 201 JSON with two
  ``Set-Cookie`` headers and a hop-by-hop header that must not reach the client.
"""

from __future__ import annotations

import threading
from typing import Any

import anyio
import orjson
from starlette.types import Receive, Scope, Send

WAIT_S = 10.0  # longest a test waits for something that should happen at once


class Scripted:
    """An upstream whose answers the test drives (raw ASGI, so that nothing buffers)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.release = threading.Event()  # set by the test: the stream may finish
        self.finished = threading.Event()  # the stream's last chunk was sent
        self.disconnected = threading.Event()  # the proxy closed the connection mid-response
        self.first_chunk = threading.Event()  # the first chunk of an upload arrived

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        path = scope["path"]
        query = scope["query_string"].decode()
        record: dict[str, Any] = {
            "method": scope["method"],
            "target": scope["raw_path"].decode() + (f"?{query}" if query else ""),
            "headers": [(k.decode(), v.decode()) for k, v in scope["headers"]],
            "client": scope["client"][0] if scope.get("client") else None,
            "scheme": scope["scheme"],
            "chunks": [],
        }
        self.requests.append(record)
        if path.endswith("/stream"):
            await self._start(send, 200, b"text/event-stream")
            await send({"type": "http.response.body", "body": b"event: delta\ndata: one\n\n", "more_body": True})
            await anyio.to_thread.run_sync(self.release.wait, 30)
            await send({"type": "http.response.body", "body": b"event: done\ndata: two\n\n", "more_body": False})
            self.finished.set()
        elif path.endswith("/hold"):
            await self._start(send, 200, b"text/event-stream")
            await send({"type": "http.response.body", "body": b"data: first\n\n", "more_body": True})
            while (await receive())["type"] != "http.disconnect":
                pass
            self.disconnected.set()
        else:
            more = True
            while more:
                message = await receive()
                more = message.get("more_body", False)
                if message.get("body"):
                    record["chunks"].append(message["body"])
                    self.first_chunk.set()
            body = orjson.dumps({"method": scope["method"], "body": b"".join(record["chunks"]).decode()})
            headers = [
                (b"content-type", b"application/json"),
                (b"set-cookie", b"prism_session=abc; HttpOnly; Path=/; SameSite=Lax"),
                (b"set-cookie", b"other=1; Path=/"),
                (b"connection", b"x-upstream-private"),
                (b"x-upstream-private", b"hop"),
                (b"x-kept", b"yes"),
            ]
            await send({"type": "http.response.start", "status": 201, "headers": headers})
            await send({"type": "http.response.body", "body": body})

    @staticmethod
    async def _start(send: Send, status: int, ctype: bytes) -> None:
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", ctype)]})
