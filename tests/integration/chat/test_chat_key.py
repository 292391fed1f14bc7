"""The chat's own events go to the chat's project (issue 11 §3): at start the chat registers
``PRISM_CHAT_API_KEY`` as an ingestion key of ``app_config.chat_project`` and sends with it, and the
ingestion API stamps its events with that project. Real PostgreSQL and Redis."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import psycopg
import pytest
import redis
from chat import sdk as chat_sdk
from chat.config import ChatSettings
from fastapi.testclient import TestClient
from ingestion.app import create_app
from prism.adapters.memory import MemoryIngestKeys
from prism.adapters.postgres_keys import PostgresIngestKeys
from prism.adapters.redis_streams import RedisStreamsBus
from prism.config import Settings
from prism.identity.tokens import new_api_key
from prism.ingest import Ingestor
from prism.keys import ingest_key_for, lookup_prefix
from prism.redact import RegexRedactor

from tests.integration.pipeline.conftest import make_event

ENV_KEY = "env-key-for-the-chat-test"


@pytest.fixture
def keys(clean_database: str) -> Iterator[PostgresIngestKeys]:
    store = PostgresIngestKeys(clean_database)
    yield store
    store.close()
    with psycopg.connect(clean_database, autocommit=True) as conn:
        conn.execute("UPDATE app_config SET value = '\"chat\"' WHERE key = 'chat_project'")


@pytest.fixture(autouse=True)
def sdk_reset(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    import prism_sdk

    monkeypatch.delenv("PRISM_INGEST_URL", raising=False)
    monkeypatch.setenv("PRISM_API_KEY", ENV_KEY)
    yield
    prism_sdk.init(enabled=False)


def sent_key() -> str | None:
    import prism_sdk

    return prism_sdk.get_client().settings.api_key


def project_of(token: str, redis_url: str, stream: str, keys: PostgresIngestKeys) -> str | int:
    """What the ingestion API makes of ``token``: the project its event is stamped with, or the status."""
    settings = Settings(api_key=ENV_KEY, redis_url=redis_url, stream=stream)  # type: ignore[call-arg]
    app = create_app(settings, Ingestor(RedisStreamsBus(redis_url, stream, 1000), RegexRedactor()), keys)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.post(
            "/v1/events", headers={"Authorization": f"Bearer {token}"}, json={"events": [make_event()]}
        )
    if response.status_code != 202:
        return response.status_code
    entries = redis.Redis.from_url(redis_url).xrange(stream)
    return str(orjson.loads(entries[-1][1][b"b"])["project"])


def test_the_chat_key_is_registered_in_the_chat_project_and_sent(
    keys: PostgresIngestKeys, monkeypatch: pytest.MonkeyPatch, redis_url: str, stream_name: str
) -> None:
    token = new_api_key("ingest").token
    monkeypatch.setenv("PRISM_CHAT_API_KEY", token)
    chat_sdk.configure_sdk(ChatSettings(spool_dir="off"), keys)
    assert sent_key() == token
    assert project_of(token, redis_url, stream_name, keys) == "chat"
    assert project_of(ENV_KEY, redis_url, stream_name, keys) == "default"


def test_the_admin_s_chat_project_is_followed_at_the_next_start(
    keys: PostgresIngestKeys, clean_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = new_api_key("ingest").token
    monkeypatch.setenv("PRISM_CHAT_API_KEY", token)
    chat_sdk.configure_sdk(ChatSettings(spool_dir="off"), keys)
    slug = f"support-{uuid.uuid4().hex[:8]}"
    with psycopg.connect(clean_database, autocommit=True) as conn:
        conn.execute("INSERT INTO projects (slug, name) VALUES (%s, 'Support')", (slug,))
        conn.execute("UPDATE app_config SET value = to_jsonb(%s::text) WHERE key = 'chat_project'", (slug,))
    chat_sdk.configure_sdk(ChatSettings(spool_dir="off"), keys)
    prefix = lookup_prefix(token)
    assert prefix is not None
    found = keys.find(prefix)
    assert found is not None and found.project == slug


def test_a_hand_set_chat_key_is_sent_as_its_derived_ingestion_key(
    keys: PostgresIngestKeys, monkeypatch: pytest.MonkeyPatch, redis_url: str, stream_name: str
) -> None:
    secret = f"hand-set-{uuid.uuid4().hex}"
    monkeypatch.setenv("PRISM_CHAT_API_KEY", secret)
    chat_sdk.configure_sdk(ChatSettings(spool_dir="off"), keys)
    derived = ingest_key_for(secret)
    assert sent_key() == derived != secret
    assert project_of(derived, redis_url, stream_name, keys) == "chat"
    assert project_of(secret, redis_url, stream_name, keys) == 401  # the raw value is no key


def test_without_a_chat_key_the_chat_sends_prism_api_key_and_registers_nothing(
    keys: PostgresIngestKeys, clean_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PRISM_CHAT_API_KEY", raising=False)
    with psycopg.connect(clean_database) as conn:
        before = conn.execute("SELECT count(*) FROM api_keys").fetchone()
    chat_sdk.configure_sdk(ChatSettings(spool_dir="off"), keys)
    assert sent_key() == ENV_KEY
    with psycopg.connect(clean_database) as conn:
        assert conn.execute("SELECT count(*) FROM api_keys").fetchone() == before


def test_registering_is_retried_while_the_database_is_down(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chat_sdk, "REGISTER_RETRY_MAX_S", 0.2)
    token = new_api_key("ingest").token
    monkeypatch.setenv("PRISM_CHAT_API_KEY", token)
    store = MemoryIngestKeys()
    store.down = True
    chat_sdk.configure_sdk(ChatSettings(spool_dir="off"), store)  # returns at once, the chat starts
    assert sent_key() == token and not store.keys
    store.down = False
    deadline = time.monotonic() + 10
    while not store.keys and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [k.project for k in store.keys.values()] == ["chat"]


# --- in AWS: the keys come from Secrets Manager (moto) ---------------------------------------------


@pytest.fixture
def secrets() -> Iterator[Any]:
    import boto3
    from moto import mock_aws
    from prism.secrets import SecretCache, set_default_cache

    with mock_aws():
        client = boto3.client("secretsmanager", region_name="us-east-1")
        set_default_cache(SecretCache(lambda: client))
        yield client
    set_default_cache(None)


def test_in_aws_the_chat_key_comes_from_its_secret_and_goes_to_the_chat_project(
    keys: PostgresIngestKeys, monkeypatch: pytest.MonkeyPatch, redis_url: str, stream_name: str, secrets: Any
) -> None:
    monkeypatch.delenv("PRISM_CHAT_API_KEY", raising=False)
    monkeypatch.delenv("PRISM_API_KEY", raising=False)
    generated = "Zq7" * 11  # what the stack's GenerateSecretString makes: not of the ingestion-key form
    arn = secrets.create_secret(Name="chat-key", SecretString=generated)["ARN"]
    chat_sdk.configure_sdk(ChatSettings(spool_dir="off", chat_api_key_secret_arn=arn), keys)
    assert sent_key() == ingest_key_for(generated)
    assert project_of(ingest_key_for(generated), redis_url, stream_name, keys) == "chat"


def test_in_aws_without_a_chat_key_the_chat_sends_the_ingestion_key_of_its_secret(
    keys: PostgresIngestKeys, monkeypatch: pytest.MonkeyPatch, secrets: Any
) -> None:
    monkeypatch.delenv("PRISM_CHAT_API_KEY", raising=False)
    monkeypatch.delenv("PRISM_API_KEY", raising=False)
    arn = secrets.create_secret(Name="ingest-key", SecretString="new-key-0002,old-key-0001")["ARN"]
    chat_sdk.configure_sdk(ChatSettings(spool_dir="off", api_key_secret_arn=arn), keys)
    assert sent_key() == "new-key-0002"


def test_an_unreadable_chat_key_secret_turns_logging_off_until_a_retry_reads_it(
    keys: PostgresIngestKeys,
    monkeypatch: pytest.MonkeyPatch,
    secrets: Any,
    caplog: pytest.LogCaptureFixture,
    redis_url: str,
    stream_name: str,
) -> None:
    import prism_sdk

    monkeypatch.setattr(chat_sdk, "REGISTER_RETRY_MAX_S", 0.2)
    monkeypatch.delenv("PRISM_CHAT_API_KEY", raising=False)
    # GIVEN a chat starting while its key's secret cannot be read (Secrets Manager down, or not yet made)
    chat_sdk.configure_sdk(ChatSettings(spool_dir="off", chat_api_key_secret_arn="chat-key-later"), keys)
    # THEN it starts, with logging off and the reason in the log
    assert not prism_sdk.get_client().settings.enabled
    assert "cannot be read" in caplog.text and "chat-key-later" in caplog.text
    # AND once the secret can be read, the retry in the background sets the SDK up with the key
    secrets.create_secret(Name="chat-key-later", SecretString="Zq7" * 11)
    deadline = time.monotonic() + 60  # a hang guard: the retry comes within 0.2 s
    while sent_key() != ingest_key_for("Zq7" * 11) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert prism_sdk.get_client().settings.enabled and sent_key() == ingest_key_for("Zq7" * 11)
    deadline = time.monotonic() + 60  # registered by the same retry, in the chat project
    while project_of(sent_key() or "", redis_url, stream_name, keys) != "chat" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert project_of(ingest_key_for("Zq7" * 11), redis_url, stream_name, keys) == "chat"


def test_on_lambda_the_chat_flushes_each_reply_within_a_second_and_bounds_its_spool(
    keys: PostgresIngestKeys, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    import prism_sdk

    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "prism-chat")
    for var in (prism_sdk.ENV_LAMBDA_FLUSH_TIMEOUT, prism_sdk.ENV_SPOOL_MAX_BYTES, "PRISM_CHAT_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    chat_sdk.configure_sdk(ChatSettings(spool_dir=str(tmp_path)), keys)
    settings = prism_sdk.get_client().settings
    assert settings.lambda_flush_timeout == chat_sdk.LAMBDA_FLUSH_TIMEOUT_S == 1.0
    assert settings.spool_max_bytes == chat_sdk.LAMBDA_SPOOL_MAX_BYTES
