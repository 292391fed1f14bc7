"""One chat turn: the upstream model stream runs as its own task, apart from the HTTP request.

The turn writes its server-sent events straight to the response once the response has attached
(:meth:`Turn.attach`); what it produced before that is kept and written first. There is no relay
task in between, so the terminal ``done``/``error`` event is on the socket before the event loop
runs anything else: LiteLLM schedules its own end-of-stream logging (cost, token counting: a few
ms of CPU) on the loop as the stream ends, and that work must not sit between the last token and
``done``. The assistant message is stored right after ``done`` is written; the response ends (and
readers of the conversation in this process wait) once it is stored.

A client that goes away does not stop the turn: its response is detached (later events are
dropped) and the reply goes on to its end, stored as it ends. While it streams, the text so far is
stored every ``live_interval_s`` (:meth:`ConversationStore.save_partial`), so any instance can show
it and follow it (:mod:`chat.live`). Only a stop (``POST .../cancel``, here or flagged in the
database by another instance), the total timeout, or the process shutting down ends it early: the
task is cancelled, the upstream stream closed (so the provider sees the request end), and the
assistant message saved as ``cancelled`` with its partial text (``error``/``interrupted`` on a
shutdown: nobody asked for it to stop). Whatever happens, the message is finalised once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

import orjson
from starlette.concurrency import run_in_threadpool

from chat.errors import ProviderCallError
from chat.gateway import ModelCall, ModelGateway, ModelStream
from chat.model import MessageOutcome, ReplyStats, TurnStart
from chat.ports import ConversationStore

log = logging.getLogger(__name__)

Write = Callable[[bytes], Awaitable[None]]

INTERRUPTED = "The reply was interrupted: the server stopped while streaming it. Send the message again."


def sse(event: str, data: dict[str, Any]) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


class Turn:
    def __init__(
        self,
        *,
        start: TurnStart,
        call: ModelCall,
        gateway: ModelGateway,
        store: ConversationStore,
        total_timeout_s: float,
        cancel_poll_s: float | None,
        live_interval_s: float | None = None,
        on_finished: Callable[[Turn], None] | None = None,
        after_reply: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.start_info = start
        self.call = call
        self.conversation_id: UUID = start.conversation.id
        self.message_id: UUID = start.assistant_message.id
        self._gateway = gateway
        self._store = store
        self._total_timeout_s = total_timeout_s
        self._cancel_poll_s = cancel_poll_s
        self._live_interval_s = live_interval_s
        self._parts: list[str] = []
        self._on_finished = on_finished
        self._after_reply = after_reply
        self._backlog: list[bytes] = []  # events produced before a response attached
        self._write: Write | None = None
        self.replied = False  # the terminal event was written (or there was nobody to write it to)
        self.cancel_reason: str | None = None
        self.outcome: MessageOutcome | None = None
        self._task: asyncio.Task[None] | None = None
        self._running = False

    # --- control ------------------------------------------------------------------------------

    def begin(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"chat-turn-{self.message_id}")

    @property
    def done(self) -> bool:
        return self._task is not None and self._task.done()

    def cancel(self, reason: str) -> bool:
        """Stop the turn; True if it was still running."""
        if self._task is None or self._task.done() or self.cancel_reason is not None:
            return False
        self.cancel_reason = reason
        if self._running:
            self._task.cancel()
        return True

    async def wait(self) -> None:
        if self._task is not None:
            await asyncio.shield(self._task)

    @property
    def text(self) -> str:
        """The reply's text so far."""
        return "".join(self._parts)

    def detach(self) -> None:
        """The response's client went away: drop later events, let the reply go on."""
        self._write = _discard
        self._backlog.clear()

    # --- the upstream call --------------------------------------------------------------------

    async def _run(self) -> None:
        started = time.perf_counter()
        first_token: float | None = None
        parts = self._parts
        stream: ModelStream | None = None
        status = "complete"
        error_code: str | None = None
        error_message: str | None = None
        watcher = asyncio.create_task(self._watch_cancel()) if self._cancel_poll_s else None
        saver = asyncio.create_task(self._save_partials()) if self._live_interval_s else None
        self._running = True
        try:
            if self.cancel_reason is not None:
                raise asyncio.CancelledError
            await self._gateway.ready()  # a cold process's warm-up is not the provider's time
            async with asyncio.timeout(self._total_timeout_s):
                stream = await self._gateway.stream(self.call)
                async for text in stream:
                    if first_token is None:
                        first_token = time.perf_counter()
                    parts.append(text)
                    await self._emit(sse("delta", {"content": text}))
        except asyncio.CancelledError:
            status = "cancelled"
            self.cancel_reason = self.cancel_reason or "stopped"
            if self.cancel_reason == "shutdown":
                status, error_code = "error", "interrupted"
                error_message = INTERRUPTED
        except TimeoutError:
            status, error_code = "error", "provider_timeout"
            error_message = (
                f"{self.call.provider_label} did not finish within {self._total_timeout_s:g} s "
                "(PRISM_CHAT_TIMEOUT_S); the reply was stopped."
            )
        except ProviderCallError as exc:
            status, error_code, error_message = "error", exc.code, exc.message
        except Exception:
            log.exception("chat turn %s failed", self.message_id)
            status, error_code = "error", "internal_error"
            error_message = "The reply failed because of an internal error; see the chat function's logs."
        finally:
            self._running = False
            for helper in (watcher, saver):
                if helper is not None:
                    helper.cancel()
        if stream is not None and status != "complete":
            # Close the upstream request (the provider sees the connection end; the SDK logs it).
            with contextlib.suppress(Exception):
                await asyncio.wait_for(stream.aclose(), timeout=5)
        ended = time.perf_counter()
        result = stream.outcome if stream is not None else None
        if result is not None and result.started_at is not None:
            started = result.started_at  # the request left after the gateway's warm-up: count from there
        outcome = MessageOutcome(
            status=status,  # type: ignore[arg-type]
            content="".join(parts),
            reply=ReplyStats(
                prompt_tokens=result.prompt_tokens if result else None,
                completion_tokens=result.completion_tokens if result else None,
                total_tokens=result.total_tokens if result else None,
                cost_usd=result.cost_usd if result else None,
                latency_ms=round((ended - started) * 1000, 3),
                ttft_ms=round((first_token - started) * 1000, 3) if first_token is not None else None,
                error_code=error_code,
                error_message=error_message,
                inference_event_id=result.inference_event_id if result else None,
            ),
        )
        self.outcome = outcome
        # `done` first (nothing is awaited between the end of the stream and this write), then
        # the store; the response ends only after both.
        await self._emit(sse(*self._terminal(outcome, result.finish_reason if result else None)))
        self.replied = True
        try:
            await run_in_threadpool(self._store.finish_message, self.message_id, outcome)
        except Exception:
            log.exception("chat turn %s: could not store the assistant message", self.message_id)
        if self._on_finished is not None:
            self._on_finished(self)
        if self._after_reply is not None:
            # On Lambda the environment may freeze once the response ends (e.g. flush the SDK).
            try:
                await self._after_reply()
            except Exception:
                log.warning("chat turn %s: after-reply hook failed", self.message_id, exc_info=True)

    def _terminal(self, outcome: MessageOutcome, finish_reason: str | None) -> tuple[str, dict[str, Any]]:
        reply = outcome.reply
        common: dict[str, Any] = {
            "conversation_id": str(self.conversation_id),
            "message_id": str(self.message_id),
            "status": outcome.status,
            "model": f"{self.call.provider}/{self.call.model}",
            "usage": {
                "prompt_tokens": reply.prompt_tokens,
                "completion_tokens": reply.completion_tokens,
                "total_tokens": reply.total_tokens,
            },
            "cost_usd": reply.cost_usd,
            "latency_ms": reply.latency_ms,
            "ttft_ms": reply.ttft_ms,
            "inference_event_id": str(reply.inference_event_id) if reply.inference_event_id else None,
        }
        if outcome.status == "error":
            return "error", {**common, "code": reply.error_code, "message": reply.error_message}
        if outcome.status == "cancelled":
            common["cancel_reason"] = self.cancel_reason
        common["finish_reason"] = finish_reason
        return "done", common

    async def _watch_cancel(self) -> None:
        """A cancel requested through another instance is only visible in the database."""
        assert self._cancel_poll_s is not None
        while True:
            await asyncio.sleep(self._cancel_poll_s)
            try:
                if await run_in_threadpool(self._store.is_cancel_requested, self.message_id):
                    self.cancel("cancel_requested")
                    return
            except Exception:
                log.warning("chat turn %s: cancel check failed", self.message_id, exc_info=True)

    async def _save_partials(self) -> None:
        """Store the text so far now and then, for readers of the conversation and for clients
        that reattach, in any instance (the store ignores it once the reply has ended)."""
        assert self._live_interval_s is not None
        saved = 0
        while True:
            await asyncio.sleep(self._live_interval_s)
            if len(self._parts) == saved:
                continue
            saved = len(self._parts)
            try:
                await run_in_threadpool(self._store.save_partial, self.message_id, "".join(self._parts))
            except Exception:
                log.warning("chat turn %s: could not store the text so far", self.message_id, exc_info=True)

    # --- the response side ----------------------------------------------------------------------

    def start_event(self) -> bytes:
        s = self.start_info
        return sse(
            "start",
            {
                "conversation_id": str(self.conversation_id),
                "user_message_id": str(s.user_message.id),
                "message_id": str(self.message_id),
                "assistant_message_id": str(self.message_id),
                "model": f"{self.call.provider}/{self.call.model}",
                "provider": self.call.provider,
                "title": s.conversation.title,
            },
        )

    async def attach(self, write: Write) -> None:
        """Write the start event and what the turn produced so far, then every later event as the
        turn produces it (from the turn's task), ending with ``done`` or ``error``."""
        await write(self.start_event())
        while self._backlog:
            await write(self._backlog.pop(0))
        self._write = write  # no await since the backlog was seen empty: nothing is reordered

    async def _emit(self, chunk: bytes) -> None:
        if self._write is None:
            self._backlog.append(chunk)
            return
        try:
            await self._write(chunk)
        except Exception:  # the connection broke under the write: the client has gone, the reply goes on
            self.detach()


async def _discard(_chunk: bytes) -> None:
    return None
