"""The chat service layer: conversations, turns, cancel. HTTP lives in ``chat.routes``."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from uuid import UUID

from prism.clock import Clock, utc_now
from prism.cursor import decode_cursor, encode_cursor
from starlette.concurrency import run_in_threadpool

from chat import live
from chat.errors import ConversationNotFoundError, MessageNotFoundError
from chat.gateway import ModelCall, ModelGateway
from chat.model import ChatMessage, Conversation, MessageOutcome, ReplyStats
from chat.ports import ConversationStore
from chat.providers import Providers
from chat.turns import INTERRUPTED, Turn

log = logging.getLogger(__name__)

TITLE_MAX = 60
STALE_GRACE_S = 60.0


def title_from(content: str) -> str:
    """A conversation's title from its first message: the first words, at most 60 characters."""
    text = " ".join(content.split())
    if len(text) <= TITLE_MAX:
        return text or "New conversation"
    cut = text[:TITLE_MAX].rsplit(" ", 1)[0] if " " in text[:TITLE_MAX] else text[:TITLE_MAX]
    return cut.rstrip(" ,.;:") + "…"


def history_for_model(history: list[ChatMessage]) -> list[dict[str, str]]:
    """The stored conversation as the model sees it: failed and unfinished replies are left out;
    a cancelled reply keeps the part the user saw. Strict providers refuse two user messages in a
    row, so the user messages a failed reply leaves side by side are sent as one (a message sent
    again, as Retry does, once)."""
    out: list[dict[str, str]] = []
    for m in history:
        if m.role == "assistant" and (m.status in ("error", "streaming") or not m.content):
            continue
        last = out[-1] if out else None
        if m.role == "user" and last is not None and last["role"] == "user":
            if m.content != last["content"]:
                last["content"] = f"{last['content']}\n\n{m.content}"
            continue
        out.append({"role": m.role, "content": m.content})
    return out


class ChatService:
    def __init__(
        self,
        store: ConversationStore,
        providers: Providers,
        gateway: ModelGateway,
        *,
        total_timeout_s: float,
        read_timeout_s: float,
        cancel_poll_s: float | None,
        live_interval_s: float = 0.25,
        after_reply: Callable[[], Awaitable[None]] | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self.store = store
        self._clock = clock
        self.providers = providers
        self.gateway = gateway
        self._total_timeout_s = total_timeout_s
        self._read_timeout_s = read_timeout_s
        self._cancel_poll_s = cancel_poll_s
        self._live_interval_s = live_interval_s
        self._after_reply = after_reply
        self._active: dict[UUID, set[Turn]] = {}

    # --- conversations --------------------------------------------------------------------------

    # Every conversation is its user's (``owner``: the caller's user id): another user's is not found (404).

    async def list_conversations(
        self, limit: int, cursor: str | None, *, owner: UUID
    ) -> tuple[list[Conversation], str | None]:
        before = decode_cursor(cursor) if cursor else None
        items = await run_in_threadpool(self.store.list_conversations, limit + 1, before, owner=owner)
        more = len(items) > limit
        items = items[:limit]
        return items, encode_cursor(items[-1].updated_at, items[-1].id) if more and items else None

    async def create_conversation(self, title: str | None, *, owner: UUID) -> Conversation:
        return await run_in_threadpool(self.store.create_conversation, uuid.uuid4(), (title or "").strip(), owner=owner)

    async def get_conversation(self, conversation_id: UUID, *, owner: UUID) -> tuple[Conversation, list[ChatMessage]]:
        # A reply that has ended (its `done` written, or stopped) is being stored: read it as stored.
        for turn in list(self._active.get(conversation_id, ())):
            if turn.replied or turn.cancel_reason is not None:
                await turn.wait()
        conv = await run_in_threadpool(self.store.get_conversation, conversation_id, owner=owner)
        if conv is None:
            raise ConversationNotFoundError(f"conversation {conversation_id} not found")
        messages = await run_in_threadpool(self.store.get_messages, conversation_id)
        return conv, [await self._settle_stale(m) for m in messages]

    async def _settle_stale(self, message: ChatMessage) -> ChatMessage:
        """A reply still ``streaming`` long after any turn could have ended was cut off by a process
        that stopped (a crash, a frozen or killed instance): store it as an ``error``."""
        if message.status != "streaming":
            return message
        limit = timedelta(seconds=self._total_timeout_s + STALE_GRACE_S)
        if self._clock() - message.created_at < limit:
            return message
        outcome = MessageOutcome(
            status="error",
            content=message.content,
            reply=ReplyStats(
                error_code="interrupted",
                error_message=INTERRUPTED,
            ),
        )
        await run_in_threadpool(self.store.finish_message, message.id, outcome)
        message.status, message.reply = outcome.status, outcome.reply
        return message

    async def rename_conversation(self, conversation_id: UUID, title: str, *, owner: UUID) -> Conversation:
        conv = await run_in_threadpool(self.store.rename_conversation, conversation_id, title.strip(), owner=owner)
        if conv is None:
            raise ConversationNotFoundError(f"conversation {conversation_id} not found")
        return conv

    async def delete_conversation(self, conversation_id: UUID, *, owner: UUID) -> None:
        if not await run_in_threadpool(self.store.delete_conversation, conversation_id, owner=owner):
            raise ConversationNotFoundError(f"conversation {conversation_id} not found")
        for turn in list(self._active.get(conversation_id, ())):
            turn.cancel("conversation_deleted")

    # --- turns ----------------------------------------------------------------------------------

    async def start_turn(self, conversation_id: UUID, content: str, model_id: str, *, owner: UUID) -> Turn:
        """Check the model (422) and the conversation (404), store the user message and an
        assistant message in ``streaming``, and start the model call."""
        resolved = await self.providers.resolve(model_id)
        start = await run_in_threadpool(
            self.store.begin_turn,
            conversation_id,
            uuid.uuid4(),
            uuid.uuid4(),
            content,
            resolved.model_id,
            resolved.provider,
            title_from(content),
            owner=owner,
        )
        call = ModelCall(
            provider=resolved.provider,
            model=resolved.model,
            messages=history_for_model(start.history),
            conversation_id=str(conversation_id),
            message_id=str(start.assistant_message.id),
            api_key=resolved.api_key,
            api_base=resolved.api_base,
            read_timeout_s=self._read_timeout_s,
        )
        turn = Turn(
            start=start,
            call=call,
            gateway=self.gateway,
            store=self.store,
            total_timeout_s=self._total_timeout_s,
            cancel_poll_s=self._cancel_poll_s,
            live_interval_s=self._live_interval_s,
            on_finished=self._forget,
            after_reply=self._after_reply,
        )
        self._active.setdefault(conversation_id, set()).add(turn)
        turn.begin()
        return turn

    async def follow_reply(
        self, conversation_id: UUID, message_id: UUID, offset: int, *, owner: UUID
    ) -> AsyncIterator[bytes]:
        """The events of an assistant reply from character ``offset`` on: what is stored so far,
        then the rest as the turn (in this instance or another) stores it, to its end (404 for an
        unknown conversation or message, or another user's conversation)."""
        if await run_in_threadpool(self.store.get_conversation, conversation_id, owner=owner) is None:
            raise ConversationNotFoundError(f"conversation {conversation_id} not found")
        message = await run_in_threadpool(self.store.get_message, conversation_id, message_id)
        if message is None or message.role != "assistant":
            raise MessageNotFoundError(f"no reply {message_id} in conversation {conversation_id}")
        message = await self._settle_stale(message)
        return live.follow(self.store, message, offset, interval_s=self._live_interval_s, settle=self._settle_stale)

    def _forget(self, turn: Turn) -> None:
        turns = self._active.get(turn.conversation_id)
        if turns is not None:
            turns.discard(turn)
            if not turns:
                del self._active[turn.conversation_id]

    async def cancel(self, conversation_id: UUID, *, owner: UUID) -> list[UUID]:
        """Stop the conversation's streaming replies, here and (through the database) elsewhere."""
        conv = await run_in_threadpool(self.store.get_conversation, conversation_id, owner=owner)
        if conv is None:
            raise ConversationNotFoundError(f"conversation {conversation_id} not found")
        stopped = [t.message_id for t in list(self._active.get(conversation_id, ())) if t.cancel("cancel_requested")]
        flagged = await run_in_threadpool(self.store.request_cancel, conversation_id)
        return list(dict.fromkeys([*stopped, *flagged]))

    def active_turns(self) -> list[Turn]:
        return [t for turns in self._active.values() for t in turns]
