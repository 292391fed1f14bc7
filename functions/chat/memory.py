"""In-memory app-data stores: the fakes unit tests pass instead of PostgreSQL (same behaviour)."""

from __future__ import annotations

import copy
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from uuid import UUID

from prism.errors import ConversationNotFoundError
from prism.ports import (
    ChatMessage,
    Conversation,
    MessageOutcome,
    StoredCredential,
    TurnStart,
)


class InMemoryAppStore:
    """Implements ``ConversationStore`` and ``CredentialStore`` in process memory."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._conversations: dict[UUID, Conversation] = {}
        self._messages: dict[UUID, list[ChatMessage]] = {}
        self._cancel: set[UUID] = set()
        self.credentials: dict[str, StoredCredential] = {}
        self._clock = datetime.now(UTC)

    def _now(self) -> datetime:
        # strictly increasing, so "newest first" is deterministic in tests
        now = datetime.now(UTC)
        self._clock = max(now, self._clock + timedelta(microseconds=1))
        return self._clock

    def ping(self) -> None:
        return None

    def create_conversation(self, conversation_id: UUID, title: str) -> Conversation:
        with self._lock:
            now = self._now()
            conv = Conversation(conversation_id, title, None, now, now)
            self._conversations[conversation_id] = conv
            self._messages[conversation_id] = []
            return replace(conv)

    def list_conversations(self, limit: int, before: tuple[datetime, UUID] | None = None) -> list[Conversation]:
        with self._lock:
            items = sorted(self._conversations.values(), key=lambda c: (c.updated_at, c.id), reverse=True)
            if before is not None:
                items = [c for c in items if (c.updated_at, c.id) < before]
            return [replace(c) for c in items[:limit]]

    def get_conversation(self, conversation_id: UUID) -> Conversation | None:
        with self._lock:
            conv = self._conversations.get(conversation_id)
            return None if conv is None else replace(conv)

    def get_messages(self, conversation_id: UUID) -> list[ChatMessage]:
        with self._lock:
            return [replace(m) for m in self._messages.get(conversation_id, [])]

    def rename_conversation(self, conversation_id: UUID, title: str) -> Conversation | None:
        with self._lock:
            conv = self._conversations.get(conversation_id)
            if conv is None:
                return None
            conv.title = title
            conv.updated_at = self._now()
            return replace(conv)

    def delete_conversation(self, conversation_id: UUID) -> bool:
        with self._lock:
            self._messages.pop(conversation_id, None)
            return self._conversations.pop(conversation_id, None) is not None

    def begin_turn(
        self,
        conversation_id: UUID,
        user_message_id: UUID,
        assistant_message_id: UUID,
        content: str,
        model: str,
        provider: str,
        title_if_untitled: str,
    ) -> TurnStart:
        with self._lock:
            conv = self._conversations.get(conversation_id)
            if conv is None:
                raise ConversationNotFoundError(f"conversation {conversation_id} not found")
            now = self._now()
            conv.updated_at = now
            conv.model = model
            if not conv.title:
                conv.title = title_if_untitled
            user = ChatMessage(user_message_id, conversation_id, "user", content, "complete", now)
            assistant = ChatMessage(
                assistant_message_id,
                conversation_id,
                "assistant",
                "",
                "streaming",
                self._now(),
                model=model,
                provider=provider,
            )
            self._messages[conversation_id].extend([user, assistant])
            history = [replace(m) for m in self._messages[conversation_id] if m.id != assistant_message_id]
            return TurnStart(replace(conv), replace(user), replace(assistant), history)

    def finish_message(self, message_id: UUID, outcome: MessageOutcome) -> None:
        with self._lock:
            for messages in self._messages.values():
                for m in messages:
                    if m.id == message_id:
                        for name, value in vars(outcome).items():
                            setattr(m, name, value)
                        return

    def request_cancel(self, conversation_id: UUID) -> list[UUID]:
        with self._lock:
            ids = [m.id for m in self._messages.get(conversation_id, []) if m.status == "streaming"]
            self._cancel.update(ids)
            return ids

    def is_cancel_requested(self, message_id: UUID) -> bool:
        with self._lock:
            return message_id in self._cancel

    def list_credentials(self) -> list[StoredCredential]:
        with self._lock:
            return [copy.deepcopy(c) for _, c in sorted(self.credentials.items())]

    def get_credential(self, provider: str) -> StoredCredential | None:
        with self._lock:
            cred = self.credentials.get(provider)
            return None if cred is None else copy.deepcopy(cred)

    def put_credential(self, credential: StoredCredential) -> StoredCredential:
        with self._lock:
            now = datetime.now(UTC)
            old = self.credentials.get(credential.provider)
            stored = replace(
                credential,
                models=list(credential.models),
                created_at=old.created_at if old else now,
                updated_at=now,
            )
            self.credentials[credential.provider] = stored
            return copy.deepcopy(stored)

    def delete_credential(self, provider: str) -> bool:
        with self._lock:
            return self.credentials.pop(provider, None) is not None
