"""The streaming response of a chat turn.

The turn writes its events straight through this response's ``send`` (see :mod:`chat.turns`), so
the last token and ``done`` reach the socket without waiting for another task to be scheduled.
It listens for ``http.disconnect`` while it streams: a client closing the stream only detaches it
(the turn drops its later events), the reply goes on and is stored as it ends; the client, or
another one, can follow it again (``GET .../messages/{id}/stream``, :mod:`chat.live`). The response
ends once the turn has stored the reply, also after a disconnect: on Lambda the process may freeze
as soon as the response ends, so the invocation is kept until then.
"""

from __future__ import annotations

import anyio
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from chat.turns import Turn

SSE_HEADERS = {
    "Cache-Control": "no-cache, no-transform",
    "X-Accel-Buffering": "no",  # nginx and friends: do not buffer
}


class TurnStreamResponse(StreamingResponse):
    def __init__(self, turn: Turn) -> None:
        super().__init__(iter(()), media_type="text/event-stream", headers=SSE_HEADERS)
        self.turn = turn

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        turn = self.turn
        completed = False

        async def write(chunk: bytes) -> None:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})

        async def listen(scope: anyio.CancelScope) -> None:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    turn.detach()
                    scope.cancel()
                    return

        async def stream(scope: anyio.CancelScope) -> None:
            nonlocal completed
            try:
                await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
                await turn.attach(write)
                await turn.wait()
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                completed = True
            except OSError:
                turn.detach()
            scope.cancel()

        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(listen, tg.cancel_scope)
                tg.start_soon(stream, tg.cancel_scope)
        finally:
            with anyio.CancelScope(shield=True):
                if not completed:
                    turn.detach()
                await turn.wait()
