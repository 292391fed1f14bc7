"""The chat's stores: conversations with their messages, and provider credentials.

Stores are synchronous; async callers run them in a worker thread. The PostgreSQL adapter is
:mod:`prism.adapters.postgres_chat`, the fake :class:`prism.adapters.memory.InMemoryChatStore`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol
from uuid import UUID

from chat.model import ChatMessage, Conversation, MessageOutcome, StoredCredential, TurnStart


class ConversationStore(Protocol):
    """Conversations belong to their user (``owner``: the user's id): what takes an owner finds only
    that user's conversations (another user's is not found). Messages are read and changed through a
    conversation already found for its owner."""

    def create_conversation(self, conversation_id: UUID, title: str, *, owner: UUID) -> Conversation: ...

    def list_conversations(
        self, limit: int, before: tuple[datetime, UUID] | None = None, *, owner: UUID
    ) -> list[Conversation]:
        """The owner's, newest activity first; ``before`` is the (updated_at, id) of the last item of a page."""
        ...

    def get_conversation(self, conversation_id: UUID, *, owner: UUID) -> Conversation | None: ...

    def get_messages(self, conversation_id: UUID) -> list[ChatMessage]: ...

    def rename_conversation(self, conversation_id: UUID, title: str, *, owner: UUID) -> Conversation | None: ...

    def delete_conversation(self, conversation_id: UUID, *, owner: UUID) -> bool: ...

    def begin_turn(
        self,
        conversation_id: UUID,
        user_message_id: UUID,
        assistant_message_id: UUID,
        content: str,
        model: str,
        provider: str,
        title_if_untitled: str,
        *,
        owner: UUID,
    ) -> TurnStart:
        """In one transaction: store the user message and an assistant message in ``streaming``,
        bump the conversation, title it if untitled. Raises ConversationNotFoundError for an unknown id
        (or another user's conversation)."""
        ...

    def finish_message(self, message_id: UUID, outcome: MessageOutcome) -> None: ...

    def save_partial(self, message_id: UUID, content: str) -> None:
        """Store the text so far of a reply still ``streaming`` (nothing once it has ended)."""
        ...

    def get_message(self, conversation_id: UUID, message_id: UUID) -> ChatMessage | None:
        """One message of the conversation, or None."""
        ...

    def request_cancel(self, conversation_id: UUID) -> list[UUID]:
        """Flag the conversation's streaming messages as cancel-requested; returns their ids."""
        ...

    def is_cancel_requested(self, message_id: UUID) -> bool: ...

    def ping(self) -> None: ...


class CredentialStore(Protocol):
    def list_credentials(self) -> list[StoredCredential]: ...

    def get_credential(self, provider: str) -> StoredCredential | None: ...

    def put_credential(self, credential: StoredCredential) -> StoredCredential: ...

    def delete_credential(self, provider: str) -> bool: ...
