"""The chat's store (conversations, messages, provider credentials) on PostgreSQL with psycopg 3.

Synchronous on a small connection pool: the chat app runs these calls in a worker thread, which
keeps the store independent of whichever event loop (uvicorn, Mangum, a test client) calls it.
Driver errors are wrapped in :class:`prism.errors.StoreError`.
"""

from __future__ import annotations

from typing import Any, TypeVar
from uuid import UUID

import psycopg
from chat.errors import ConversationNotFoundError
from chat.model import REPLY_FIELDS, ChatMessage, Conversation, MessageOutcome, ReplyStats, StoredCredential, TurnStart
from psycopg import sql
from psycopg.types.json import Jsonb

from prism.adapters.postgres_pool import PooledPostgres, columns

T = TypeVar("T")


_CONVERSATION = columns("id", "title", "model", "created_at", "updated_at")
_MESSAGE_FIELDS = ("id", "conversation_id", "role", "content", "status", "created_at", "model", "provider")
_MESSAGE = columns(*_MESSAGE_FIELDS, *REPLY_FIELDS)  # a message's columns: its own, then its ReplyStats
_CREDENTIAL = columns("provider", "api_key_ciphertext", "key_last4", "base_url", "models", "created_at", "updated_at")

_M = ", ".join((*_MESSAGE_FIELDS, *REPLY_FIELDS, "seq"))
_FINISH = sql.SQL("UPDATE messages SET status = %s, content = %s, {reply}, updated_at = now() WHERE id = %s").format(
    reply=sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(name)) for name in REPLY_FIELDS)
)
_BEGIN_TURN = sql.SQL(
    """
WITH conv AS (
    UPDATE conversations
    SET updated_at = now(), model = %(model)s, title = CASE WHEN title = '' THEN %(title)s ELSE title END
    WHERE id = %(cid)s AND user_id = %(owner)s
    RETURNING id, title, model, created_at, updated_at
), added AS (
    INSERT INTO messages (id, conversation_id, role, content, status, model, provider)
    SELECT v.id, conv.id, v.role, v.content, v.status, v.model, v.provider
    FROM conv CROSS JOIN (VALUES
        (%(uid)s::uuid, 'user', %(content)s::text, 'complete', NULL::text, NULL::text),
        (%(aid)s::uuid, 'assistant', '', 'streaming', %(model)s::text, %(provider)s::text)
    ) AS v (id, role, content, status, model, provider)
    RETURNING {m}
), turn AS (
    SELECT {m} FROM messages WHERE conversation_id = %(cid)s
    UNION ALL
    SELECT {m} FROM added
)
SELECT turn.*, conv.id AS conv_id, conv.title AS conv_title, conv.model AS conv_model,
       conv.created_at AS conv_created_at, conv.updated_at AS conv_updated_at
FROM turn CROSS JOIN conv
ORDER BY turn.seq
"""
).format(m=sql.SQL(_M))


def _conversation(row: dict[str, Any]) -> Conversation:
    return Conversation(**row)


def _message(row: dict[str, Any]) -> ChatMessage:
    return ChatMessage(
        **{name: row[name] for name in _MESSAGE_FIELDS},
        reply=ReplyStats(**{name: row[name] for name in REPLY_FIELDS}),
    )


def _credential(row: dict[str, Any]) -> StoredCredential:
    return StoredCredential(**{**row, "models": list(row["models"] or [])})


def _configure(conn: psycopg.Connection[Any]) -> None:
    # App-data writes sit on the chat's critical path (before the first token, before `done`):
    # commits do not wait for the WAL flush. A database crash may lose the last few hundred
    # milliseconds of writes, never corrupt them (see docs/performance.md, "Chat").
    conn.execute("SET synchronous_commit = off")


class PostgresChatStore(PooledPostgres):
    """Implements ``ConversationStore`` and ``CredentialStore``."""

    def __init__(self, dsn: str, *, min_size: int = 1, max_size: int = 8, timeout: float = 10.0) -> None:
        super().__init__(
            dsn, name="prism-chat", configure=_configure, min_size=min_size, max_size=max_size, timeout=timeout
        )

    # --- conversations ------------------------------------------------------------------------

    # Every conversation query is scoped to its owner (conversations.user_id, migration 008): another
    # user's conversation is not found.

    def create_conversation(self, conversation_id: UUID, title: str, *, owner: UUID) -> Conversation:
        with self._conn() as conn:
            row = conn.execute(
                sql.SQL("INSERT INTO conversations (id, title, user_id) VALUES (%s, %s, %s) RETURNING {cols}").format(
                    cols=_CONVERSATION
                ),
                (conversation_id, title, owner),
            ).fetchone()
        assert row is not None
        return _conversation(row)

    def list_conversations(
        self, limit: int, before: tuple[Any, UUID] | None = None, *, owner: UUID
    ) -> list[Conversation]:
        with self._conn() as conn:
            if before is None:
                rows = conn.execute(
                    sql.SQL(
                        "SELECT {cols} FROM conversations WHERE user_id = %s ORDER BY updated_at DESC, id DESC LIMIT %s"
                    ).format(cols=_CONVERSATION),
                    (owner, limit),
                ).fetchall()
            else:
                rows = conn.execute(
                    sql.SQL(
                        "SELECT {cols} FROM conversations WHERE user_id = %s AND (updated_at, id) < (%s, %s)"
                        " ORDER BY updated_at DESC, id DESC LIMIT %s"
                    ).format(cols=_CONVERSATION),
                    (owner, before[0], before[1], limit),
                ).fetchall()
        return [_conversation(r) for r in rows]

    def get_conversation(self, conversation_id: UUID, *, owner: UUID) -> Conversation | None:
        with self._conn() as conn:
            row = conn.execute(
                sql.SQL("SELECT {cols} FROM conversations WHERE id = %s AND user_id = %s").format(cols=_CONVERSATION),
                (conversation_id, owner),
            ).fetchone()
        return None if row is None else _conversation(row)

    def get_messages(self, conversation_id: UUID) -> list[ChatMessage]:
        with self._conn() as conn:
            rows = conn.execute(
                sql.SQL("SELECT {cols} FROM messages WHERE conversation_id = %s ORDER BY seq").format(cols=_MESSAGE),
                (conversation_id,),
            ).fetchall()
        return [_message(r) for r in rows]

    def rename_conversation(self, conversation_id: UUID, title: str, *, owner: UUID) -> Conversation | None:
        with self._conn() as conn:
            row = conn.execute(
                sql.SQL(
                    "UPDATE conversations SET title = %s, updated_at = now() WHERE id = %s AND user_id = %s"
                    " RETURNING {cols}"
                ).format(cols=_CONVERSATION),
                (title, conversation_id, owner),
            ).fetchone()
        return None if row is None else _conversation(row)

    def delete_conversation(self, conversation_id: UUID, *, owner: UUID) -> bool:
        with self._conn() as conn:
            cur = conn.execute("DELETE FROM conversations WHERE id = %s AND user_id = %s", (conversation_id, owner))
            return cur.rowcount > 0

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
        # One statement, one round trip (it is on the turn's critical path, before the first
        # token): bump and title the conversation, insert both messages, return the history. The
        # SELECT of existing messages sees the snapshot before the inserts; the new rows come
        # from RETURNING.
        with self._conn() as conn:
            rows = conn.execute(
                _BEGIN_TURN,
                {
                    "cid": conversation_id,
                    "owner": owner,
                    "uid": user_message_id,
                    "aid": assistant_message_id,
                    "content": content,
                    "model": model,
                    "provider": provider,
                    "title": title_if_untitled,
                },
            ).fetchall()
        if not rows:
            raise ConversationNotFoundError(f"conversation {conversation_id} not found")
        first = rows[0]
        conversation = Conversation(
            first["conv_id"],
            first["conv_title"],
            first["conv_model"],
            first["conv_created_at"],
            first["conv_updated_at"],
        )
        messages = [_message(r) for r in rows]
        by_id = {m.id: m for m in messages}
        return TurnStart(
            conversation=conversation,
            user_message=by_id[user_message_id],
            assistant_message=by_id[assistant_message_id],
            history=[m for m in messages if m.id != assistant_message_id],
        )

    def finish_message(self, message_id: UUID, outcome: MessageOutcome) -> None:
        reply = outcome.reply
        with self._conn() as conn:
            conn.execute(
                _FINISH,
                (outcome.status, outcome.content, *(getattr(reply, name) for name in REPLY_FIELDS), message_id),
            )

    def save_partial(self, message_id: UUID, content: str) -> None:
        with self._conn() as conn:
            conn.execute(
                "UPDATE messages SET content = %s, updated_at = now() WHERE id = %s AND status = 'streaming'",
                (content, message_id),
            )

    def get_message(self, conversation_id: UUID, message_id: UUID) -> ChatMessage | None:
        with self._conn() as conn:
            row = conn.execute(
                sql.SQL("SELECT {cols} FROM messages WHERE id = %s AND conversation_id = %s").format(cols=_MESSAGE),
                (message_id, conversation_id),
            ).fetchone()
        return None if row is None else _message(row)

    def request_cancel(self, conversation_id: UUID) -> list[UUID]:
        with self._conn() as conn:
            rows = conn.execute(
                "UPDATE messages SET cancel_requested = true "
                "WHERE conversation_id = %s AND status = 'streaming' RETURNING id",
                (conversation_id,),
            ).fetchall()
        return [r["id"] for r in rows]

    def is_cancel_requested(self, message_id: UUID) -> bool:
        with self._conn() as conn:
            row = conn.execute("SELECT cancel_requested FROM messages WHERE id = %s", (message_id,)).fetchone()
        return bool(row and row["cancel_requested"])

    # --- provider credentials -----------------------------------------------------------------

    def list_credentials(self) -> list[StoredCredential]:
        with self._conn() as conn:
            rows = conn.execute(
                sql.SQL("SELECT {cols} FROM provider_credentials ORDER BY provider").format(cols=_CREDENTIAL)
            ).fetchall()
        return [_credential(r) for r in rows]

    def get_credential(self, provider: str) -> StoredCredential | None:
        with self._conn() as conn:
            row = conn.execute(
                sql.SQL("SELECT {cols} FROM provider_credentials WHERE provider = %s").format(cols=_CREDENTIAL),
                (provider,),
            ).fetchone()
        return None if row is None else _credential(row)

    def put_credential(self, credential: StoredCredential) -> StoredCredential:
        with self._conn() as conn:
            row = conn.execute(
                sql.SQL(
                    "INSERT INTO provider_credentials"
                    " (provider, api_key_ciphertext, key_last4, base_url, models)"
                    " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (provider) DO UPDATE SET"
                    " api_key_ciphertext = EXCLUDED.api_key_ciphertext, key_last4 = EXCLUDED.key_last4,"
                    " base_url = EXCLUDED.base_url, models = EXCLUDED.models, updated_at = now()"
                    " RETURNING {cols}"
                ).format(cols=_CREDENTIAL),
                (
                    credential.provider,
                    credential.api_key_ciphertext,
                    credential.key_last4,
                    credential.base_url,
                    Jsonb(credential.models),
                ),
            ).fetchone()
        assert row is not None
        return _credential(row)

    def delete_credential(self, provider: str) -> bool:
        with self._conn() as conn:
            cur = conn.execute("DELETE FROM provider_credentials WHERE provider = %s", (provider,))
            return cur.rowcount > 0
