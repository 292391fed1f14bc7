"""Keys rotated in Secrets Manager (moto) while the parts run on the real Redis and PostgreSQL, on a
TestClock: the ingestion API takes a rotated PRISM_API_KEY secret within the cache's TTL (the events
reach the stream as the ``default`` project's), and the chat's stored provider keys follow a rotated
PRISM_CREDS_KEY secret (re-encrypted under the new key when next read, still usable once the old key
is dropped)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from chat.model import StoredCredential
from chat.providers import Providers
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from ingestion.app import create_app
from prism.adapters.memory import MemoryRawPayloadStore
from prism.adapters.postgres_chat import PostgresChatStore
from prism.adapters.postgres_keys import PostgresIngestKeys
from prism.adapters.redis_streams import RedisStreamsBus
from prism.config import Settings
from prism.credentials import CredentialCipher, build_cipher
from prism.ingest import Ingestor
from prism.redact import RegexRedactor
from prism.secrets import SecretCache, set_default_cache

from tests.support.clock import TestClock

pytestmark = pytest.mark.integration

EVENT = json.loads((Path(__file__).resolve().parents[2] / "events" / "minimal.json").read_text())
PROVIDER_KEY = "sk-ant-rotation-0123456789"


@pytest.fixture(autouse=True)
def cache(sm: Any, clock: TestClock) -> Iterator[SecretCache]:
    cache = SecretCache(lambda: sm, ttl_s=300, clock=clock)
    set_default_cache(cache)
    yield cache
    set_default_cache(None)


def test_the_ingestion_api_takes_a_rotated_key_on_the_real_stack(
    sm: Any, clock: TestClock, redis_url: str, stream_name: str, database_url: str
) -> None:
    arn = sm.create_secret(Name="ingest-key", SecretString="old-key-0001")["ARN"]
    settings = Settings(
        env="test", api_key_secret_arn=arn, redis_url=redis_url, stream=stream_name, database_url=database_url
    ).with_secrets()
    ingestor = Ingestor(RedisStreamsBus(redis_url, stream_name, 1000), RegexRedactor(), MemoryRawPayloadStore())
    keys = PostgresIngestKeys(settings.database_dsn)
    try:
        with TestClient(create_app(settings, ingestor, keys), raise_server_exceptions=False) as client:

            def post(key: str) -> int:
                body = {"events": [EVENT]}
                return client.post("/v1/events", json=body, headers={"Authorization": f"Bearer {key}"}).status_code

            assert post("old-key-0001") == 202
            sm.put_secret_value(SecretId=arn, SecretString="new-key-0002")  # rotated, the old key removed
            assert (post("old-key-0001"), post("new-key-0002")) == (202, 401)  # within the TTL
            clock.advance(seconds=300)
            assert (post("old-key-0001"), post("new-key-0002")) == (401, 202)
    finally:
        keys.close()
    assert redis.Redis.from_url(redis_url).xlen(stream_name) == 3  # the accepted ones, no more


def test_stored_provider_keys_follow_a_rotated_creds_key(sm: Any, clock: TestClock, database_url: str) -> None:
    # GIVEN a chat instance whose cipher follows the secret, and a provider key stored under the old key
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    arn = sm.create_secret(Name="creds-key", SecretString=old)["ARN"]
    settings = Settings(env="test", creds_key_secret_arn=arn, database_url=database_url).with_secrets()
    cipher = build_cipher(settings)
    assert cipher is not None
    store = PostgresChatStore(settings.database_dsn, max_size=1)
    models = ["claude-rotation-test"]
    store.put_credential(
        StoredCredential(
            "anthropic", cipher.encrypt_bound(PROVIDER_KEY, provider="anthropic", endpoint=None), "6789", None, models
        )
    )

    def resolved_key() -> str:  # as a request reads it (a new Providers: nothing decrypted in memory yet)
        providers = Providers(store, cipher, demo_enabled=False, demo_base_url=None)
        return asyncio.run(providers.resolve("anthropic/claude-rotation-test")).api_key

    def stored_token() -> str:
        cred = store.get_credential("anthropic")
        assert cred is not None and cred.api_key_ciphertext is not None
        return cred.api_key_ciphertext

    try:
        assert resolved_key() == PROVIDER_KEY
        # WHEN the new key is put in front in the secret, and the TTL passes
        sm.put_secret_value(SecretId=arn, SecretString=f"{new},{old}")
        clock.advance(seconds=300)
        # THEN the next read re-encrypts the stored key under the new key
        assert resolved_key() == PROVIDER_KEY
        assert CredentialCipher(new).decrypt_for(stored_token(), provider="anthropic", endpoint=None) == PROVIDER_KEY
        # AND once the old key is dropped from the secret the key still works
        sm.put_secret_value(SecretId=arn, SecretString=new)
        clock.advance(seconds=300)
        assert resolved_key() == PROVIDER_KEY
    finally:
        store.delete_credential("anthropic")
        store.close()
