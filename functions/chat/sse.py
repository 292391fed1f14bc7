"""The streaming response of a chat turn.

Unlike Starlette's ``StreamingResponse`` (which notices a client that went away only when it next
writes, under ASGI spec 2.4), this one always listens for ``http.disconnect`` while it streams, so
a client closing the stream cancels the upstream model call at once, even while the model is
silent. Before returning it waits for the turn to be saved: on Lambda the process may freeze as
soon as the response ends.
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
        super().__init__(turn.events(), media_type="text/event-stream", headers=SSE_HEADERS)
        self.turn = turn

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        turn = self.turn
        completed = False

        async def listen(scope: anyio.CancelScope) -> None:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    turn.cancel("client_disconnected")
                    scope.cancel()
                    return

        async def stream(scope: anyio.CancelScope) -> None:
            nonlocal completed
            try:
                await self.stream_response(send)
                completed = True
            except OSError:
                turn.cancel("client_disconnected")
            scope.cancel()

        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(listen, tg.cancel_scope)
                tg.start_soon(stream, tg.cancel_scope)
        finally:
            with anyio.CancelScope(shield=True):
                if not completed:
                    turn.cancel("client_disconnected")
                await turn.wait()
