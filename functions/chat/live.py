"""Following a reply that is still streaming, from any instance: what ``GET
/api/conversations/{id}/messages/{message_id}/stream`` sends.

The turn that produces the reply stores its text so far every ``live_interval_s``
(:mod:`chat.turns`); a follower reads the message row at the same pace and sends what is new. The
state is the database row, not a process's memory, so the instance that serves a follower (a
reloaded page, another tab, another Lambda instance) need not be the one running the turn.

Events, in order: ``start`` (``{conversation_id, message_id, model, provider}``), ``delta``
(``{content}``, each with an SSE ``id`` that is the reply's length in characters once it is
applied: pass it back as ``Last-Event-ID`` or ``?offset=`` to resume without duplicates), then
``done`` or ``error`` built from the stored message, as the message route ends.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool

from chat.model import ChatMessage
from chat.ports import ConversationStore

KEEP_ALIVE_S = 15.0


def event(name: str, data: dict[str, Any], event_id: int | None = None) -> bytes:
    head = b"" if event_id is None else b"id: " + str(event_id).encode() + b"\n"
    return head + b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def terminal(message: ChatMessage) -> tuple[str, dict[str, Any]]:
    """The ``done``/``error`` event of a reply that has ended, from what is stored."""
    reply = message.reply
    common: dict[str, Any] = {
        "conversation_id": str(message.conversation_id),
        "message_id": str(message.id),
        "status": message.status,
        "model": message.model,
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
    if message.status == "error":
        return "error", {**common, "code": reply.error_code, "message": reply.error_message}
    return "done", {**common, "finish_reason": None}


async def follow(
    store: ConversationStore,
    first: ChatMessage,
    offset: int,
    *,
    interval_s: float,
    settle: Callable[[ChatMessage], Awaitable[ChatMessage]],
) -> AsyncIterator[bytes]:
    """The events of reply ``first`` (as read by the route) from character ``offset`` on, until it
    ends. ``settle`` ends a reply left ``streaming`` by an instance that stopped (the staleness rule)."""
    message = first
    sent = max(0, min(offset, len(message.content)))
    yield event(
        "start",
        {
            "conversation_id": str(message.conversation_id),
            "message_id": str(message.id),
            "model": message.model,
            "provider": message.provider,
        },
    )
    quiet = 0.0
    while True:
        if len(message.content) > sent:
            yield event("delta", {"content": message.content[sent:]}, len(message.content))
            sent, quiet = len(message.content), 0.0
        if message.status != "streaming":
            yield event(*terminal(message))
            return
        await asyncio.sleep(interval_s)
        quiet += interval_s
        if quiet >= KEEP_ALIVE_S:
            yield b": keep-alive\n\n"
            quiet = 0.0
        found = await run_in_threadpool(store.get_message, message.conversation_id, message.id)
        if found is None:  # the conversation was deleted meanwhile
            yield event("error", {"message_id": str(message.id), "status": "error", "code": "message_not_found",
                                  "message": "The conversation was deleted."})  # fmt: skip
            return
        message = await settle(found)
