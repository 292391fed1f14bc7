"""A cold process's warm-up (LiteLLM's imports and first call) is not the provider's time: the turn
waits for the gateway to be ready before its total timeout starts."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from chat.gateway import ModelCall, ModelStream
from chat.providers import Providers
from chat.service import ChatService
from prism.adapters.memory import InMemoryChatStore

from tests.unit.chat.conftest import FakeGateway, Script

pytestmark = pytest.mark.anyio

OWNER = uuid.UUID(int=1)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class ColdGateway(FakeGateway):
    """Its first call waits for a warm-up, as LiteLLMGateway's does (in ``stream`` when nobody
    awaited ``ready`` first). The warm-up takes three times the turn's whole deadline."""

    def __init__(self, warm_up_s: float) -> None:
        super().__init__()
        self.warm_up_s = warm_up_s
        self.warmed = False

    async def ready(self) -> None:
        if not self.warmed:
            await asyncio.sleep(self.warm_up_s)
            self.warmed = True

    async def stream(self, call: ModelCall) -> ModelStream:
        await self.ready()
        return await super().stream(call)


async def test_the_first_turn_of_a_cold_process_is_not_timed_out_by_the_warm_up() -> None:
    store, gateway = InMemoryChatStore(), ColdGateway(warm_up_s=1.5)
    gateway.default = Script(chunks=["a", "b"])
    providers = Providers(store, None, demo_enabled=True, demo_base_url=lambda: "http://127.0.0.1:9/v1")
    service = ChatService(store, providers, gateway, total_timeout_s=0.5, read_timeout_s=5, cancel_poll_s=None)
    conv = await service.create_conversation(None, owner=OWNER)
    turn = await service.start_turn(conv.id, "hello", "demo/prism-demo", owner=OWNER)
    await asyncio.wait_for(turn.wait(), 10)
    assert turn.outcome is not None
    assert (turn.outcome.status, turn.outcome.content) == ("complete", "ab")
