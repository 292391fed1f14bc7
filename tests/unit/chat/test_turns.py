"""Turns at the service level: cancel (here and through the store), timeouts, key rotation on read."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from typing import Any

import pytest
from chat.model import MessageOutcome, StoredCredential
from chat.providers import Providers
from chat.service import ChatService
from chat.turns import Turn
from cryptography.fernet import Fernet
from prism.adapters.memory import InMemoryChatStore
from prism.credentials import CredentialCipher

from tests.unit.chat.conftest import FakeGateway, Script

pytestmark = pytest.mark.anyio

OWNER = uuid.UUID(int=1)  # whose conversations these are


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _service(
    store: InMemoryChatStore, gateway: FakeGateway, *, total: float = 30, poll: float | None = None
) -> ChatService:
    providers = Providers(store, None, demo_enabled=True, demo_base_url=lambda: "http://127.0.0.1:9/v1")
    return ChatService(store, providers, gateway, total_timeout_s=total, read_timeout_s=5, cancel_poll_s=poll)


class Client:
    """What a response would receive: the turn's SSE events, parsed."""

    def __init__(self) -> None:
        self.events: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()

    async def write(self, chunk: bytes) -> None:
        head, data = chunk.decode().strip().split("\n")
        self.events.put_nowait((head.removeprefix("event: "), json.loads(data.removeprefix("data: "))))

    async def next(self) -> tuple[str, dict[str, Any]]:
        return await asyncio.wait_for(self.events.get(), 5)

    def rest(self) -> list[tuple[str, dict[str, Any]]]:
        return [self.events.get_nowait() for _ in range(self.events.qsize())]


async def _attach(turn: Turn) -> Client:
    client = Client()
    await turn.attach(client.write)
    assert (await client.next())[0] == "start"
    return client


async def _deltas(client: Client, n: int) -> list[str]:
    out: list[str] = []
    while len(out) < n:
        kind, data = await client.next()
        assert kind == "delta"
        out.append(data["content"])
    return out


async def test_cancel_stops_the_upstream_stream_and_keeps_the_partial_text() -> None:
    store, gateway = InMemoryChatStore(), FakeGateway()
    gateway.default = Script(chunks=["Par", "tial", " never"], hang_after=2)
    service = _service(store, gateway)
    conv = await service.create_conversation(None, owner=OWNER)
    turn = await service.start_turn(conv.id, "hello", "demo/prism-demo", owner=OWNER)
    client = await _attach(turn)
    assert await _deltas(client, 2) == ["Par", "tial"]

    assert await service.cancel(conv.id, owner=OWNER) == [turn.message_id]
    await asyncio.wait_for(turn.wait(), 5)

    kind, done = await client.next()
    assert kind == "done" and done["status"] == "cancelled" and done["cancel_reason"] == "cancel_requested"
    assert gateway.streams[0].closed  # the upstream request was closed
    _, messages = await service.get_conversation(conv.id, owner=OWNER)
    assert (messages[1].status, messages[1].content) == ("cancelled", "Partial")
    assert service.active_turns() == []
    assert await service.cancel(conv.id, owner=OWNER) == []  # nothing left to stop


async def test_a_cancel_flagged_by_another_instance_is_picked_up_from_the_store() -> None:
    store, gateway = InMemoryChatStore(), FakeGateway()
    gateway.default = Script(chunks=["a", "b"], hang_after=1)
    service = _service(store, gateway, poll=0.02)
    conv = await service.create_conversation(None, owner=OWNER)
    turn = await service.start_turn(conv.id, "hello", "demo/prism-demo", owner=OWNER)
    await _deltas(await _attach(turn), 1)
    store.request_cancel(conv.id)  # what POST .../cancel does on the other instance
    await asyncio.wait_for(turn.wait(), 5)
    assert turn.outcome is not None and turn.outcome.status == "cancelled"


async def test_nothing_hangs_the_whole_reply_has_a_deadline() -> None:
    store, gateway = InMemoryChatStore(), FakeGateway()
    gateway.default = Script(chunks=["a", "b"], hang_after=1)
    service = _service(store, gateway, total=0.2)
    conv = await service.create_conversation(None, owner=OWNER)
    turn = await service.start_turn(conv.id, "hello", "demo/prism-demo", owner=OWNER)
    client = await _attach(turn)
    await asyncio.wait_for(turn.wait(), 5)
    events = client.rest()
    assert events[-1][0] == "error" and events[-1][1]["code"] == "provider_timeout"
    _, messages = await service.get_conversation(conv.id, owner=OWNER)
    assert (messages[1].status, messages[1].content, messages[1].reply.error_code) == (
        "error",
        "a",
        "provider_timeout",
    )


async def test_deleting_a_conversation_stops_its_reply() -> None:
    store, gateway = InMemoryChatStore(), FakeGateway()
    gateway.default = Script(chunks=["a", "b"], hang_after=1)
    service = _service(store, gateway)
    conv = await service.create_conversation(None, owner=OWNER)
    turn = await service.start_turn(conv.id, "hello", "demo/prism-demo", owner=OWNER)
    await _deltas(await _attach(turn), 1)
    await service.delete_conversation(conv.id, owner=OWNER)
    await asyncio.wait_for(turn.wait(), 5)
    assert turn.cancel_reason == "conversation_deleted"


async def test_keys_under_an_older_creds_key_are_re_encrypted_when_read() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    store = InMemoryChatStore()
    store.put_credential(
        StoredCredential("openai", CredentialCipher(old).encrypt("sk-old-key-123456"), "3456", None, [])
    )
    providers = Providers(store, CredentialCipher(f"{new},{old}"), demo_enabled=False, demo_base_url=None)
    resolved = await providers.resolve("openai/gpt-4o-mini")
    assert resolved.api_key == "sk-old-key-123456"
    token = store.credentials["openai"].api_key_ciphertext
    assert token is not None
    # under the new key alone, and bound to the endpoint its row names (a key stored before binding)
    assert CredentialCipher(new).decrypt_for(token, provider="openai", endpoint=None) == "sk-old-key-123456"
    assert await providers.rotate_all() == 0


async def test_the_after_reply_hook_runs_once_the_client_has_its_last_event() -> None:
    store, gateway = InMemoryChatStore(), FakeGateway()
    calls: list[str] = []

    async def after() -> None:
        calls.append("flushed")

    providers = Providers(store, None, demo_enabled=True, demo_base_url=lambda: "http://127.0.0.1:9/v1")
    service = ChatService(
        store, providers, gateway, total_timeout_s=5, read_timeout_s=5, cancel_poll_s=None, after_reply=after
    )
    conv = await service.create_conversation(None, owner=OWNER)
    turn = await service.start_turn(conv.id, "hello", "demo/prism-demo", owner=OWNER)
    seen: list[bytes] = []

    async def write(chunk: bytes) -> None:
        assert calls == []  # not before the terminal event reached the client
        seen.append(chunk)

    await turn.attach(write)
    await asyncio.wait_for(turn.wait(), 5)
    assert seen[-1].startswith(b"event: done") and calls == ["flushed"]


async def test_a_reply_left_streaming_by_a_stopped_process_is_settled_as_interrupted() -> None:
    from datetime import timedelta

    store, gateway = InMemoryChatStore(), FakeGateway()
    service = _service(store, gateway, total=1)
    conv = await service.create_conversation(None, owner=OWNER)
    start = store.begin_turn(conv.id, uuid.uuid4(), uuid.uuid4(), "hi", "demo/prism-demo", "demo", "hi", owner=OWNER)
    _, messages = await service.get_conversation(conv.id, owner=OWNER)
    assert messages[1].status == "streaming"  # recent: may still be streaming elsewhere
    for m in store._messages[conv.id]:
        m.created_at -= timedelta(minutes=5)
    _, messages = await service.get_conversation(conv.id, owner=OWNER)
    assert (messages[1].status, messages[1].reply.error_code) == ("error", "interrupted")
    assert store.get_messages(conv.id)[1].status == "error"
    assert messages[1].id == start.assistant_message.id


async def test_an_undecryptable_key_is_reported_not_a_crash() -> None:
    store = InMemoryChatStore()
    lost_key = CredentialCipher(Fernet.generate_key().decode())
    store.put_credential(
        StoredCredential("openai_compatible", lost_key.encrypt("sk-x-123456789"), "6789", "http://h/v1", [])
    )
    providers = Providers(
        store, CredentialCipher(Fernet.generate_key().decode()), demo_enabled=False, demo_base_url=None
    )
    groups = await providers.model_groups()
    assert groups[0].models == [] and groups[0].error is not None and "PRISM_CREDS_KEY" in groups[0].error
    from prism.credentials import CredentialDecryptError

    with pytest.raises(CredentialDecryptError) as err:
        await providers.resolve("openai_compatible/m")
    assert err.value.status == 503


async def test_what_a_turn_produced_before_the_response_attached_is_written_first_and_in_order() -> None:
    store, gateway = InMemoryChatStore(), FakeGateway()
    gateway.default = Script(chunks=["a", "b", "c"])
    service = _service(store, gateway)
    conv = await service.create_conversation(None, owner=OWNER)
    turn = await service.start_turn(conv.id, "hello", "demo/prism-demo", owner=OWNER)
    await asyncio.wait_for(turn.wait(), 5)  # the whole reply happened before anyone listened
    client = await _attach(turn)
    events = client.rest()
    assert [k for k, _ in events] == ["delta", "delta", "delta", "done"]
    assert "".join(d["content"] for k, d in events if k == "delta") == "abc"


class SlowFinishStore(InMemoryChatStore):
    """Storing the reply takes a while (a database under load)."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def finish_message(self, message_id: uuid.UUID, outcome: MessageOutcome) -> None:
        assert self.release.wait(5)
        super().finish_message(message_id, outcome)


async def test_done_is_written_before_the_store_and_readers_wait_for_the_stored_reply() -> None:
    store, gateway = SlowFinishStore(), FakeGateway()
    service = _service(store, gateway)
    conv = await service.create_conversation(None, owner=OWNER)
    turn = await service.start_turn(conv.id, "hello", "demo/prism-demo", owner=OWNER)
    client = await _attach(turn)
    while (event := await client.next())[0] != "done":
        pass
    assert event[1]["status"] == "complete" and not turn.done  # still storing
    assert store._messages[conv.id][1].status == "streaming"

    reader = asyncio.create_task(service.get_conversation(conv.id, owner=OWNER))
    await asyncio.sleep(0.05)
    assert not reader.done()  # a reader in this process waits for the store...
    store.release.set()
    _, messages = await asyncio.wait_for(reader, 5)
    assert (messages[1].status, messages[1].content) == ("complete", "Hello!")  # ...and sees it stored


async def test_a_write_that_fails_detaches_the_client_and_the_reply_goes_on() -> None:
    store, gateway = InMemoryChatStore(), FakeGateway()
    gateway.default = Script(chunks=["a", "b", "c"])
    service = _service(store, gateway)
    conv = await service.create_conversation(None, owner=OWNER)
    turn = await service.start_turn(conv.id, "hello", "demo/prism-demo", owner=OWNER)
    written: list[bytes] = []

    async def write(chunk: bytes) -> None:
        if chunk.startswith(b"event: delta") and b'"b"' in chunk:
            raise ConnectionResetError("peer went away")
        written.append(chunk)

    await turn.attach(write)
    await asyncio.wait_for(turn.wait(), 5)
    assert turn.cancel_reason is None
    assert turn.outcome is not None and (turn.outcome.status, turn.outcome.content) == ("complete", "abc")
    assert not any(c.startswith(b"event: done") for c in written)  # nothing more went to the broken connection
    _, messages = await service.get_conversation(conv.id, owner=OWNER)
    assert (messages[1].status, messages[1].content) == ("complete", "abc")


async def test_a_shutdown_stores_the_reply_as_interrupted_not_as_stopped() -> None:
    store, gateway = InMemoryChatStore(), FakeGateway()
    gateway.default = Script(chunks=["Par", "tial", " never"], hang_after=2)
    service = _service(store, gateway)
    conv = await service.create_conversation(None, owner=OWNER)
    turn = await service.start_turn(conv.id, "hello", "demo/prism-demo", owner=OWNER)
    await _deltas(await _attach(turn), 2)
    turn.cancel("shutdown")
    await asyncio.wait_for(turn.wait(), 5)
    _, messages = await service.get_conversation(conv.id, owner=OWNER)
    assert (messages[1].status, messages[1].content) == ("error", "Partial")
    assert messages[1].reply.error_code == "interrupted"


async def test_a_reader_right_after_a_stop_sees_the_reply_stored_as_cancelled() -> None:
    store, gateway = SlowFinishStore(), FakeGateway()
    gateway.default = Script(chunks=["Par", "tial", " never"], hang_after=2)
    service = _service(store, gateway)
    conv = await service.create_conversation(None, owner=OWNER)
    turn = await service.start_turn(conv.id, "hello", "demo/prism-demo", owner=OWNER)
    await _deltas(await _attach(turn), 2)
    turn.cancel("cancel_requested")  # the reader pressed Stop
    reader = asyncio.create_task(service.get_conversation(conv.id, owner=OWNER))
    await asyncio.sleep(0.05)
    assert not reader.done()  # waits for the store instead of answering "streaming"
    store.release.set()
    _, messages = await asyncio.wait_for(reader, 5)
    assert (messages[1].status, messages[1].content) == ("cancelled", "Partial")
