"""Migration 008: conversations belong to their user. Those made before there were users go to the
first admin (the oldest one at migration time, or the first one created later); a user's deletion
takes their conversations and messages with it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from prism.adapters.postgres import drop_database

from tests.conftest import ROOT, fresh_database


@pytest.fixture
def db() -> Iterator[str]:
    url = fresh_database("prism_owner")
    yield url
    drop_database(url)


def _user(conn: psycopg.Connection[tuple[object, ...]], role: str) -> uuid.UUID:
    uid = uuid.uuid4()
    conn.execute("INSERT INTO users (id, email, role) VALUES (%s, %s, %s)", (uid, f"{uid.hex[:8]}@example.com", role))
    return uid


def _conversation(conn: psycopg.Connection[tuple[object, ...]], owner: uuid.UUID | None = None) -> uuid.UUID:
    cid = uuid.uuid4()
    conn.execute("INSERT INTO conversations (id, user_id) VALUES (%s, %s)", (cid, owner))
    return cid


def _owner(conn: psycopg.Connection[tuple[object, ...]], cid: uuid.UUID) -> object:
    row = conn.execute("SELECT user_id FROM conversations WHERE id = %s", (cid,)).fetchone()
    return row[0] if row else "gone"


def test_ownerless_conversations_go_to_the_first_admin_created(db: str) -> None:
    with psycopg.connect(db, autocommit=True) as conn:
        # GIVEN conversations from before there were users, and a member who signs up first
        legacy = [_conversation(conn) for _ in range(3)]
        member = _user(conn, "member")
        assert {_owner(conn, c) for c in legacy} == {None}, "a member adopts nothing"
        # WHEN the first admin is created THEN they own them
        admin = _user(conn, "admin")
        assert {_owner(conn, c) for c in legacy} == {admin}
        # AND a later admin takes nobody's conversations
        mine = _conversation(conn, member)
        _user(conn, "admin")
        assert {_owner(conn, c) for c in legacy} == {admin} and _owner(conn, mine) == member


def test_deleting_a_user_deletes_their_conversations_and_messages(db: str) -> None:
    with psycopg.connect(db, autocommit=True) as conn:
        a, b = _user(conn, "member"), _user(conn, "member")
        ca, cb = _conversation(conn, a), _conversation(conn, b)
        conn.execute("INSERT INTO messages (id, conversation_id, role, content) VALUES (%s, %s, 'user', 'hi')",
                     (uuid.uuid4(), ca))  # fmt: skip
        conn.execute("DELETE FROM users WHERE id = %s", (a,))
        assert _owner(conn, ca) == "gone" and _owner(conn, cb) == b
        assert conn.execute("SELECT count(*) FROM messages WHERE conversation_id = %s", (ca,)).fetchone() == (0,)


def test_the_migration_gives_existing_conversations_to_the_oldest_admin(db: str) -> None:
    """The UPDATE of 008 itself, replayed on rows that look like a database migrated with users."""
    with psycopg.connect(db, autocommit=True) as conn:
        first = _user(conn, "admin")
        conn.execute("UPDATE users SET created_at = now() - interval '1 day' WHERE id = %s", (first,))
        _user(conn, "admin")
        legacy = _conversation(conn)
        sql = (ROOT / "functions/prism/migrations/008_conversation_owner.sql").read_text()
        update = sql[sql.index("UPDATE conversations") : sql.index(";", sql.index("UPDATE conversations")) + 1]
        conn.execute(update)  # type: ignore[call-overload]
        assert _owner(conn, legacy) == first
