"""Secrets rotated while an instance runs, against moto's Secrets Manager (in process) on a TestClock:
the ingestion key (PRISM_API_KEY_SECRET_ARN) and the credential keys (PRISM_CREDS_KEY_SECRET_ARN)
follow the secret within the cache's TTL, without a per-request read; the OIDC client secret and the
first admin's are read once at start."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from ingestion.app import create_app
from prism.adapters.memory import MemoryBus, MemoryIngestKeys, MemoryRawPayloadStore
from prism.config import Settings
from prism.credentials import CredentialCipher, build_cipher
from prism.ingest import Ingestor
from prism.redact import make_redactor
from prism.secrets import SecretCache, set_default_cache

from tests.support.clock import TestClock
from tests.support.secrets import CountingClient

pytestmark = pytest.mark.unit

EVENT = json.loads((Path(__file__).resolve().parents[2] / "events" / "minimal.json").read_text())
PROVIDER_KEY = "sk-test-0123456789abcdefWXYZ"


@pytest.fixture(autouse=True)
def cache(counting: CountingClient, clock: TestClock) -> Iterator[SecretCache]:
    cache = SecretCache(lambda: counting, ttl_s=300, clock=clock)
    set_default_cache(cache)
    yield cache
    set_default_cache(None)


def ingestion(settings: Settings) -> TestClient:
    ingestor = Ingestor(MemoryBus(), make_redactor("regex"), MemoryRawPayloadStore())
    return TestClient(create_app(settings, ingestor, MemoryIngestKeys()), raise_server_exceptions=False)


def post(client: TestClient, key: str) -> int:
    response = client.post("/v1/events", json={"events": [EVENT]}, headers={"Authorization": f"Bearer {key}"})
    if response.status_code == 401:
        assert response.json()["error"]["code"] == "unauthorized"
    return response.status_code


# --- the ingestion key ----------------------------------------------------------------------------


def test_a_rotated_ingestion_key_is_used_by_a_running_instance_after_the_ttl(
    sm: Any, clock: TestClock, counting: CountingClient
) -> None:
    # GIVEN an instance started with the key in its secret
    arn = sm.create_secret(Name="ingest-key", SecretString="old-key-0001")["ARN"]
    settings = Settings(env="test", api_key_secret_arn=arn).with_secrets()
    with ingestion(settings) as client:
        assert post(client, "old-key-0001") == 202
        # WHEN the secret is rotated to a new key, the old one removed
        sm.put_secret_value(SecretId=arn, SecretString="new-key-0002")
        # THEN within the TTL the instance still takes the old key only
        clock.advance(seconds=299)
        assert post(client, "old-key-0001") == 202
        assert post(client, "new-key-0002") == 401
        # AND after it the new key only: the removed one is refused
        clock.advance(seconds=1)
        assert post(client, "new-key-0002") == 202
        assert post(client, "old-key-0001") == 401
    assert counting.calls == 2  # once at start, once after the TTL: not once per request


def test_keys_listed_together_in_the_secret_both_work_during_a_rotation(sm: Any, clock: TestClock) -> None:
    arn = sm.create_secret(Name="ingest-key", SecretString="old-key-0001")["ARN"]
    with ingestion(Settings(env="test", api_key_secret_arn=arn).with_secrets()) as client:
        sm.put_secret_value(SecretId=arn, SecretString="new-key-0002, old-key-0001\n")
        clock.advance(seconds=300)
        assert post(client, "new-key-0002") == 202
        assert post(client, "old-key-0001") == 202


def test_secrets_manager_down_keeps_the_last_ingestion_key_and_is_not_asked_per_request(
    sm: Any, clock: TestClock, counting: CountingClient
) -> None:
    arn = sm.create_secret(Name="ingest-key", SecretString="old-key-0001")["ARN"]
    with ingestion(Settings(env="test", api_key_secret_arn=arn).with_secrets()) as client:
        sm.put_secret_value(SecretId=arn, SecretString="new-key-0002")
        counting.down = True
        clock.advance(seconds=600)
        calls = counting.calls
        assert [post(client, "old-key-0001") for _ in range(5)] == [202] * 5
        assert post(client, "new-key-0002") == 401
        assert counting.calls == calls + 1  # the last value is kept a while before asking again
        clock.advance(seconds=30)
        counting.down = False  # back: the rotated value arrives
        assert post(client, "new-key-0002") == 202
        assert post(client, "old-key-0001") == 401


def test_the_settings_follow_the_secret_without_with_secrets(sm: Any, clock: TestClock) -> None:
    arn = sm.create_secret(Name="ingest-key", SecretString="a,b")["ARN"]
    settings = Settings(env="test", api_key="plain", api_key_secret_arn=arn)
    assert settings.api_keys == ["a", "b"]
    sm.put_secret_value(SecretId=arn, SecretString="c")
    clock.advance(seconds=300)
    assert settings.api_keys == ["c"]


# --- the credential keys --------------------------------------------------------------------------


def test_the_chats_cipher_follows_a_rotated_creds_key(sm: Any, clock: TestClock) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    arn = sm.create_secret(Name="creds-key", SecretString=old)["ARN"]
    cipher = build_cipher(Settings(env="test", creds_key_secret_arn=arn).with_secrets())
    assert cipher is not None
    before = cipher.encrypt(PROVIDER_KEY)
    # WHEN a new key is put in front of the old one in the secret
    sm.put_secret_value(SecretId=arn, SecretString=f"{new},{old}")
    clock.advance(seconds=299)
    within = cipher.encrypt(PROVIDER_KEY)
    assert CredentialCipher(old).decrypt(within) == PROVIDER_KEY  # within the TTL: still the old key
    assert not cipher.needs_rotation(before)
    clock.advance(seconds=1)
    # THEN new encryptions use the new key, and the old tokens still decrypt (and are due a rotation)
    after = cipher.encrypt(PROVIDER_KEY)
    assert CredentialCipher(new).decrypt(after) == PROVIDER_KEY
    assert cipher.decrypt(before) == PROVIDER_KEY
    assert cipher.needs_rotation(before) and not cipher.needs_rotation(after)
    assert CredentialCipher(new).decrypt(cipher.rotate(before)) == PROVIDER_KEY


def test_an_unusable_rotated_creds_key_keeps_the_last_good_keys(
    sm: Any, clock: TestClock, caplog: pytest.LogCaptureFixture
) -> None:
    old = Fernet.generate_key().decode()
    arn = sm.create_secret(Name="creds-key", SecretString=old)["ARN"]
    cipher = build_cipher(Settings(env="test", creds_key_secret_arn=arn).with_secrets())
    assert cipher is not None
    token = cipher.encrypt(PROVIDER_KEY)
    sm.put_secret_value(SecretId=arn, SecretString="not-a-fernet-key")
    clock.advance(seconds=300)
    with caplog.at_level(logging.WARNING, logger="prism.credentials"):
        assert cipher.decrypt(token) == PROVIDER_KEY
        assert cipher.decrypt(cipher.encrypt(PROVIDER_KEY)) == PROVIDER_KEY
    warnings = [r.getMessage() for r in caplog.records if r.name == "prism.credentials"]
    assert len(warnings) == 1 and "key #1" in warnings[0]  # once per change, naming no key
    assert "not-a-fernet-key" not in warnings[0] and old not in warnings[0]


def test_the_chat_app_gets_its_cipher_from_the_secret(sm: Any) -> None:
    # the chat's settings are not filled by with_secrets: the cipher reads the ARN itself
    from chat.app import create_app as create_chat_app
    from prism.adapters.memory import InMemoryChatStore

    from tests.unit.chat.conftest import FakeDemo, FakeGateway, make_settings, memory_identity

    arn = sm.create_secret(Name="creds-key", SecretString=Fernet.generate_key().decode())["ARN"]
    store = InMemoryChatStore()
    app = create_chat_app(
        make_settings(creds_key="", creds_key_secret_arn=arn),
        store=store,
        credential_store=store,
        gateway=FakeGateway(),
        demo=FakeDemo(),  # type: ignore[arg-type]
        identity=memory_identity(),
    )
    assert app.state.providers.creds_key_configured


def test_secrets_manager_down_keeps_the_creds_key(sm: Any, clock: TestClock, counting: CountingClient) -> None:
    old = Fernet.generate_key().decode()
    arn = sm.create_secret(Name="creds-key", SecretString=old)["ARN"]
    cipher = build_cipher(Settings(env="test", creds_key_secret_arn=arn).with_secrets())
    assert cipher is not None
    token = cipher.encrypt(PROVIDER_KEY)
    counting.down = True
    clock.advance(seconds=600)
    assert cipher.decrypt(token) == PROVIDER_KEY


def test_without_an_arn_the_cipher_is_the_plain_variables(counting: CountingClient) -> None:
    key = Fernet.generate_key().decode()
    cipher = build_cipher(Settings(env="test", creds_key=key))
    assert cipher is not None and CredentialCipher(key).decrypt(cipher.encrypt(PROVIDER_KEY)) == PROVIDER_KEY
    assert build_cipher(Settings(env="test")) is None
    assert counting.calls == 0


def test_an_empty_creds_key_secret_is_no_cipher(sm: Any) -> None:
    arn = sm.create_secret(Name="creds-key", SecretString=" ")["ARN"]
    assert build_cipher(Settings(env="test", creds_key_secret_arn=arn).with_secrets()) is None


# --- read once at start ---------------------------------------------------------------------------


def test_the_oidc_client_secret_comes_from_its_secret_and_stays_as_read_at_start(sm: Any, clock: TestClock) -> None:
    from identity.oidc import OIDCClient

    arn = sm.create_secret(Name="oidc", SecretString="client-secret-1\n")["ARN"]
    settings = Settings(
        env="test",
        oidc_issuer="https://idp.example",
        oidc_client_id="prism",
        oidc_client_secret="plain-ignored",
        oidc_client_secret_arn=arn,
    ).with_secrets()
    client = OIDCClient.from_settings(settings)
    assert client is not None and client.config.client_secret == "client-secret-1"
    sm.put_secret_value(SecretId=arn, SecretString="client-secret-2")
    clock.advance(seconds=300)
    # a running instance keeps it (it keys the sealed login-state cookies it handed out); new ones read it
    assert settings.oidc_client_secret == "client-secret-1"
    assert Settings(env="test", oidc_client_secret_arn=arn).with_secrets().oidc_client_secret == "client-secret-2"


def test_the_secrets_manager_client_gives_up_quickly(monkeypatch: pytest.MonkeyPatch) -> None:
    # the ingestion key is re-read on a request's path: botocore's defaults would hold it a minute per try
    from prism.adapters.secretsmanager import secretsmanager_client

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    config = secretsmanager_client().meta.config
    assert (config.connect_timeout, config.read_timeout, config.retries.get("total_max_attempts")) == (2, 5, 3)
