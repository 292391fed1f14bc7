"""The chat's inference events through the real pipeline: chat → prism-sdk → ingestion API →
Redis Streams → writer → inference_logs, linked to the stored messages by soft references."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from tests.integration.chat.conftest import ChatApi, read_sse
from tests.support.fake_openai import Behaviour, FakeOpenAI
from tests.support.stack import Stack

MODEL = "openai_compatible/fake-model"


@pytest.fixture
def stack(database_url: str, redis_url: str, stream_name: str, aws_endpoint: str) -> Iterator[Stack]:
    import prism_sdk

    with Stack(database_url, redis_url, stream_name, aws_endpoint) as running:
        prism_sdk.init(ingest_url=running.ingest_url, api_key=running.api_key, flush_interval=0.05)
        try:
            yield running
        finally:
            prism_sdk.flush()
            prism_sdk.init()


def test_complete_and_cancelled_turns_land_in_inference_logs_linked_to_their_messages(
    make_chat: Any, fake: FakeOpenAI, stack: Stack, database_url: str
) -> None:
    import prism_sdk

    chat: ChatApi = make_chat()
    chat.configure_fake(fake)
    cid = chat.new_conversation()
    fake.enqueue(
        Behaviour(text="A whole answer."),
        Behaviour(chunks=["Cut", " short", " here", " never"], inter_token_delay=0.4),
    )
    with chat.client.stream(
        "POST", f"/api/conversations/{cid}/messages", json={"content": "first", "model": MODEL}
    ) as resp:
        last = list(read_sse(resp.iter_lines()))[-1][1]
        assert last["status"] == "complete", last
    with chat.client.stream(
        "POST", f"/api/conversations/{cid}/messages", json={"content": "second", "model": MODEL}
    ) as resp:
        events = read_sse(resp.iter_lines())
        next(events)
        next(events)  # first delta, then the reader presses Stop
        assert chat.client.post(f"/api/conversations/{cid}/cancel", json={}).json()["cancelled"]
    assert fake.chat_requests[-1].wait_done(10) and fake.chat_requests[-1].disconnected

    prism_sdk.flush()
    stack.wait_for_rows(2, where="conversation_id = %s", params=(cid,))
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT id::text, status, message_id FROM inference_logs WHERE conversation_id = %s", (cid,)
        ).fetchall()
    logged = {message_id: (event_id, status) for event_id, status, message_id in rows}
    assistants = [m for m in chat.messages(cid) if m["role"] == "assistant"]
    assert [m["status"] for m in assistants] == ["complete", "cancelled"]
    for message, expected in zip(assistants, ["ok", "cancelled"], strict=True):
        assert logged.get(message["id"]) == (message["inference_event_id"], expected), (rows, assistants)
