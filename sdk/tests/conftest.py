"""Fixtures for the SDK's unit tests: loopback servers only (a fake ingestion API, the fake OpenAI)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("LITELLM_MODE", "PRODUCTION")  # no ./.env loaded into the tests
HERE = Path(__file__).resolve().parent
for p in (str(HERE.parents[1]), str(HERE)):
    if p not in sys.path:
        sys.path.insert(0, p)

import prism_sdk  # noqa: E402
from sdk_support import FakeIngest  # noqa: E402

from tests.support.fake_openai import FakeOpenAI  # noqa: E402


@pytest.fixture
def ingest() -> Iterator[FakeIngest]:
    fake = FakeIngest().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="session")
def fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        _warm_up_litellm(fake)
        yield fake


def _warm_up_litellm(fake: FakeOpenAI) -> None:
    """LiteLLM's first stream in a process spends ~1 s building pydantic schemas: pay it once, here,
    so timing assertions measure the call and not LiteLLM's warm-up."""
    import asyncio

    import litellm

    kw = {"model": "openai/gpt-4o-mini", "api_base": fake.base_url, "api_key": "x"}
    msgs = [{"role": "user", "content": "warm up"}]
    litellm.completion(messages=msgs, **kw)
    for _ in litellm.completion(messages=msgs, stream=True, stream_options={"include_usage": True}, **kw):
        pass

    async def run() -> None:
        s = await litellm.acompletion(messages=msgs, stream=True, **kw)
        async for _ in s:
            pass

    asyncio.run(run())


@pytest.fixture
def fake(fake_openai: FakeOpenAI) -> Iterator[FakeOpenAI]:
    fake_openai.reset()
    yield fake_openai
    fake_openai.reset()


@pytest.fixture
def client(ingest: FakeIngest, monkeypatch: pytest.MonkeyPatch) -> Iterator[prism_sdk.Prism]:
    """The default client, pointed at the fake ingestion API, fast intervals."""
    c = prism_sdk.init(ingest_url=ingest.url, api_key="test-key", flush_interval=0.05, max_backoff=0.2)
    yield c
    c.shutdown(timeout=2)
    prism_sdk.init(enabled=False)
