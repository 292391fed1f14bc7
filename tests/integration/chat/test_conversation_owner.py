"""Conversations belong to their user. Migration 008: those made before there were users go to the
first admin (the oldest one at migration time, or the first one created later); a user's deletion
takes their conversations and messages with it. The chat API: another user's conversation is 404 on
every route (admins' included), and a list holds only the caller's conversations."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from chat.model import MessageOutcome
from prism.adapters.postgres import drop_database

from tests.conftest import ROOT, fresh_database
from tests.integration.chat.conftest import ChatApi


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


# --- through the chat API: each user sees and changes only their own conversations -----------------


def _reply_of(chat: ChatApi, cid: str, owner: uuid.UUID) -> str:
    """An ended assistant reply in ``cid`` (stored directly: no model needed to own a reply)."""
    store = chat.app.state.chat.store
    start = store.begin_turn(uuid.UUID(cid), uuid.uuid4(), uuid.uuid4(), "hi", "demo/prism-demo", "demo", "hi",
                             owner=owner)  # fmt: skip
    store.finish_message(start.assistant_message.id, MessageOutcome(status="complete", content="B's reply"))
    return str(start.assistant_message.id)


def test_a_user_gets_404_on_every_route_of_another_users_conversation(chat: ChatApi) -> None:
    # GIVEN members A and B (and the admin of chat.client), B with a conversation holding a reply
    a_caller, b_caller = chat.callers.session("member"), chat.callers.session("member")
    a, b = chat.client_as(a_caller), chat.client_as(b_caller)
    assert b_caller.user is not None
    created = b.post("/api/conversations", json={"title": "B's secret"})
    assert created.status_code == 201, created.text
    cid = created.json()["id"]
    mid = _reply_of(chat, cid, b_caller.user.id)
    mine = a.post("/api/conversations", json={"title": "A's own"}).json()["id"]
    routes = [
        ("GET", f"/api/conversations/{cid}", None),
        ("PATCH", f"/api/conversations/{cid}", {"title": "taken over"}),
        ("POST", f"/api/conversations/{cid}/messages", {"content": "hello", "model": "demo/prism-demo"}),
        ("GET", f"/api/conversations/{cid}/messages/{mid}/stream", None),
        ("POST", f"/api/conversations/{cid}/cancel", {}),
        ("DELETE", f"/api/conversations/{cid}", None),
    ]
    # WHEN A, and the admin, call each route of B's conversation THEN each answers 404, as for a
    # conversation that does not exist (not 403: nothing says it exists), and names nothing of it
    for who in (a, chat.client):
        for method, path, body in routes:
            resp = who.request(method, path, json=body) if body is not None else who.request(method, path)
            assert resp.status_code == 404, (method, path, resp.status_code, resp.text)
            assert resp.json()["error"]["code"] == "conversation_not_found", resp.text
            assert "B's" not in resp.text
    # AND B's conversation is as B left it: not renamed, not deleted, no message added
    got = b.get(f"/api/conversations/{cid}").json()
    assert got["title"] == "B's secret" and [m["content"] for m in got["messages"]] == ["hi", "B's reply"]
    # AND each list holds only its user's conversations
    assert [c["id"] for c in b.get("/api/conversations").json()["items"]] == [cid]
    assert [c["id"] for c in a.get("/api/conversations").json()["items"]] == [mine]
    assert chat.client.get("/api/conversations").json()["items"] == []


def test_a_list_pages_through_the_callers_conversations_only(chat: ChatApi) -> None:
    a, b = chat.client_as(chat.callers.session("member")), chat.client_as(chat.callers.session("member"))
    ours = {who: [who.post("/api/conversations", json={}).json()["id"] for _ in range(3)] for who in (a, b)}
    for who in (a, b):
        seen: list[str] = []
        page = who.get("/api/conversations", params={"limit": 2}).json()
        seen += [c["id"] for c in page["items"]]
        while page["next_cursor"]:
            page = who.get("/api/conversations", params={"limit": 2, "cursor": page["next_cursor"]}).json()
            seen += [c["id"] for c in page["items"]]
        assert seen == ours[who][::-1]
