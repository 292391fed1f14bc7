"""The app-data store on real PostgreSQL (migration 001_app.sql)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from chat.errors import ConversationNotFoundError
from chat.model import MessageOutcome, ReplyStats, StoredCredential
from prism.adapters.postgres_chat import PostgresChatStore
from prism.errors import StoreError, ValidationFailedError


@pytest.fixture
def store(chat_db: str) -> Iterator[PostgresChatStore]:
    s = PostgresChatStore(chat_db, max_size=2)
    yield s
    s.close()


@pytest.fixture
def owner(chat_db: str) -> uuid.UUID:
    """A user whose conversations these are (conversations.user_id references users)."""
    uid = uuid.uuid4()
    with psycopg.connect(chat_db, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO users (id, email, role) VALUES (%s, %s, 'member')", (uid, f"{uid.hex[:8]}@example.com")
        )
    return uid


def test_conversations_page_newest_activity_first(store: PostgresChatStore, owner: uuid.UUID) -> None:
    ids = [store.create_conversation(uuid.uuid4(), f"c{i}", owner=owner).id for i in range(5)]
    first = store.list_conversations(3, owner=owner)
    assert [c.id for c in first] == ids[::-1][:3]
    last = first[-1]
    assert [c.id for c in store.list_conversations(3, (last.updated_at, last.id), owner=owner)] == ids[::-1][3:]
    store.rename_conversation(ids[0], "renamed", owner=owner)
    assert store.list_conversations(1, owner=owner)[0].id == ids[0]
    assert store.rename_conversation(uuid.uuid4(), "x", owner=owner) is None


def test_a_turn_stores_both_messages_in_order_and_titles_once(store: PostgresChatStore, owner: uuid.UUID) -> None:
    conv = store.create_conversation(uuid.uuid4(), "", owner=owner)
    t1 = store.begin_turn(conv.id, uuid.uuid4(), uuid.uuid4(), "first", "demo/prism-demo", "demo", "First", owner=owner)
    assert t1.conversation.title == "First" and t1.assistant_message.status == "streaming"
    assert [m.content for m in t1.history] == ["first"]
    event_id = uuid.uuid4()
    store.finish_message(
        t1.assistant_message.id,
        MessageOutcome(
            "complete",
            "answer",
            ReplyStats(3, 4, 7, 0.25, latency_ms=12.5, ttft_ms=3.25, inference_event_id=event_id),
        ),
    )
    t2 = store.begin_turn(
        conv.id, uuid.uuid4(), uuid.uuid4(), "second", "openai/gpt-4o", "openai", "Second", owner=owner
    )
    assert t2.conversation.title == "First" and t2.conversation.model == "openai/gpt-4o"
    assert [(m.role, m.content) for m in t2.history] == [
        ("user", "first"),
        ("assistant", "answer"),
        ("user", "second"),
    ]
    answer = t2.history[1].reply
    assert (answer.total_tokens, answer.cost_usd, answer.ttft_ms, answer.inference_event_id) == (
        7,
        0.25,
        3.25,
        event_id,
    )
    assert store.request_cancel(conv.id) == [t2.assistant_message.id]
    assert store.is_cancel_requested(t2.assistant_message.id)
    assert not store.is_cancel_requested(t1.assistant_message.id)


def test_unknown_conversation_and_cascade_delete(store: PostgresChatStore, owner: uuid.UUID) -> None:
    with pytest.raises(ConversationNotFoundError):
        store.begin_turn(uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), "x", "m", "p", "t", owner=owner)
    conv = store.create_conversation(uuid.uuid4(), "t", owner=owner)
    store.begin_turn(conv.id, uuid.uuid4(), uuid.uuid4(), "x", "m", "p", "t", owner=owner)
    assert store.delete_conversation(conv.id, owner=owner)
    assert store.get_messages(conv.id) == [] and store.get_conversation(conv.id, owner=owner) is None
    assert not store.delete_conversation(conv.id, owner=owner)


def test_credentials_upsert_and_the_status_check(store: PostgresChatStore) -> None:
    store.put_credential(StoredCredential("openai", "gAAAA-token-1", "abcd", None, []))
    updated = store.put_credential(StoredCredential("openai", "gAAAA-token-2", "wxyz", "http://x/v1", ["m1"]))
    assert (updated.api_key_ciphertext, updated.models, updated.base_url) == (
        "gAAAA-token-2",
        ["m1"],
        "http://x/v1",
    )
    assert [c.provider for c in store.list_credentials()] == ["openai"]
    with pytest.raises(StoreError):  # the table's CHECK keeps unknown providers out
        store.put_credential(StoredCredential("acme", None, "", None, []))
    assert store.delete_credential("openai") and store.get_credential("openai") is None


def test_a_value_postgresql_cannot_hold_is_a_422_that_does_not_quote_the_data(
    store: PostgresChatStore, owner: uuid.UUID
) -> None:
    # Was a StoreError (503 "store unavailable") whose message quoted the values sent.
    with pytest.raises(ValidationFailedError) as caught:
        store.create_conversation(uuid.uuid4(), "a\x00b", owner=owner)
    assert caught.value.status == 422 and caught.value.code == "invalid_value"
    with pytest.raises(ValidationFailedError) as caught:
        store.put_credential(StoredCredential("openai", None, "", None, ["secret-model\x00"]))
    assert "secret-model" not in caught.value.message and "\n" not in caught.value.message
    store.ping()  # the pool is fine afterwards


def test_an_unreachable_database_is_a_store_error() -> None:
    s = PostgresChatStore("postgresql://postgres@127.0.0.1:1/none", timeout=0.5)
    with pytest.raises(StoreError):
        s.ping()
    s.close()


def test_the_rotation_command_re_encrypts_stored_keys(
    chat_db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from chat import rotate_creds
    from chat.config import get_chat_settings
    from cryptography.fernet import Fernet
    from prism.credentials import CredentialCipher

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    store = PostgresChatStore(chat_db, max_size=1)
    store.put_credential(
        StoredCredential("anthropic", CredentialCipher(old).encrypt("sk-ant-123456"), "3456", None, [])
    )
    monkeypatch.setenv("PRISM_DATABASE_URL", chat_db)
    monkeypatch.setenv("PRISM_CREDS_KEY", f"{new},{old}")
    get_chat_settings.cache_clear()
    try:
        rotate_creds.main()
    finally:
        get_chat_settings.cache_clear()
    assert "1 provider key(s)" in capsys.readouterr().out
    stored = store.get_credential("anthropic")
    assert stored is not None and stored.api_key_ciphertext is not None
    # under the new key alone, and now bound to the endpoint its row names (the provider's own)
    assert CredentialCipher(new).decrypt_for(stored.api_key_ciphertext, provider="anthropic", endpoint=None) == (
        "sk-ant-123456"
    )
    assert CredentialCipher(new).open_bound(stored.api_key_ciphertext).bound
    store.close()


def test_another_users_conversation_is_not_found(store: PostgresChatStore, owner: uuid.UUID, chat_db: str) -> None:
    other = uuid.uuid4()
    with psycopg.connect(chat_db, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO users (id, email, role) VALUES (%s, %s, 'admin')", (other, f"{other.hex[:8]}@example.com")
        )
    conv = store.create_conversation(uuid.uuid4(), "mine", owner=owner)
    assert store.get_conversation(conv.id, owner=other) is None
    assert store.list_conversations(10, owner=other) == []
    assert store.rename_conversation(conv.id, "taken", owner=other) is None
    assert not store.delete_conversation(conv.id, owner=other)
    with pytest.raises(ConversationNotFoundError):
        store.begin_turn(conv.id, uuid.uuid4(), uuid.uuid4(), "x", "m", "p", "t", owner=other)
    assert store.get_messages(conv.id) == []
    got = store.get_conversation(conv.id, owner=owner)
    assert got is not None and got.title == "mine"
