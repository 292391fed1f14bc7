"""The SDK against the real ingestion API + writer + PostgreSQL (tests/support/stack.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.support.fake_openai import FakeOpenAI
from tests.support.stack import Stack

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


@pytest.fixture
def stack(clean_database: str, redis_url: str, stream_name: str, aws_endpoint: str) -> Iterator[Stack]:
    with Stack(clean_database, redis_url, stream_name, aws_endpoint) as s:
        yield s


@pytest.fixture(scope="session")
def fake_openai() -> Iterator[FakeOpenAI]:
    import asyncio

    import litellm

    with FakeOpenAI() as fake:
        # LiteLLM's first stream in a process spends ~1 s on pydantic schemas: pay it here.
        kw = {"model": "openai/gpt-4o-mini", "api_base": fake.base_url, "api_key": "x"}
        msgs = [{"role": "user", "content": "warm up"}]
        litellm.completion(messages=msgs, **kw)
        for _ in litellm.completion(messages=msgs, stream=True, **kw):
            pass

        async def warm() -> None:
            async for _ in await litellm.acompletion(messages=msgs, stream=True, **kw):
                pass

        asyncio.run(warm())
        yield fake


@pytest.fixture
def fake(fake_openai: FakeOpenAI) -> Iterator[FakeOpenAI]:
    fake_openai.reset()
    yield fake_openai
    fake_openai.reset()
