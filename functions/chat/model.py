"""The chat's model: conversations, their messages, how a reply went, and stored provider credentials.

Plain dataclasses, no technology: the stores (:mod:`chat.ports`) take and return these, the API
(:mod:`chat.schemas`) shows them. Timestamps are timezone-aware UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Literal
from uuid import UUID

MessageStatus = Literal["complete", "cancelled", "error", "streaming"]
MessageRole = Literal["system", "user", "assistant"]


@dataclass
class Conversation:
    id: UUID
    title: str
    model: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class ReplyStats:
    """What an assistant reply used, cost and took, how it failed, and the inference event that
    records it. All None for a user message and for a reply still streaming."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    cost_usd: float | None = None
    latency_ms: float | None = None
    ttft_ms: float | None = None
    error_code: str | None = None
    error_message: str | None = None
    inference_event_id: UUID | None = None


#: The fields of :class:`ReplyStats`, in order (the stores keep one column each).
REPLY_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(ReplyStats))


@dataclass
class ChatMessage:
    id: UUID
    conversation_id: UUID
    role: MessageRole
    content: str
    status: MessageStatus
    created_at: datetime
    model: str | None = None
    provider: str | None = None
    reply: ReplyStats = field(default_factory=ReplyStats)


@dataclass(frozen=True)
class MessageOutcome:
    """How an assistant message ended; written once when its stream stops."""

    status: MessageStatus
    content: str
    reply: ReplyStats = field(default_factory=ReplyStats)


@dataclass(frozen=True)
class TurnStart:
    """What ``begin_turn`` stored, and the history (in order, ending with the new user message)."""

    conversation: Conversation
    user_message: ChatMessage
    assistant_message: ChatMessage
    history: list[ChatMessage]


@dataclass
class StoredCredential:
    """A provider credential as stored: the API key only as a Fernet token."""

    provider: str
    api_key_ciphertext: str | None
    key_last4: str
    base_url: str | None
    models: list[str]
    created_at: datetime | None = None
    updated_at: datetime | None = None
