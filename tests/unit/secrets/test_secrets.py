"""prism.secrets against moto's Secrets Manager (in process): values from the secret, the cache,
rotation after the TTL or after PostgreSQL refuses the credentials, and the settings that use it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from prism.config import Settings
from prism.errors import ConfigError
from prism.secrets import SecretCache, dsn_from_secret, is_auth_failure, set_default_cache

from tests.support.clock import TestClock
from tests.support.secrets import CountingClient

pytestmark = pytest.mark.unit

DB_SECRET = {"username": "prism", "password": "p@ss/word", "host": "db.example", "port": 5433, "dbname": "logs"}


@pytest.fixture
def cache(counting: CountingClient, clock: TestClock) -> Iterator[SecretCache]:
    cache = SecretCache(lambda: counting, ttl_s=300, clock=clock)
    set_default_cache(cache)
    yield cache
    set_default_cache(None)


def test_the_dsn_comes_from_the_secrets_json(sm: Any, cache: SecretCache) -> None:
    arn = sm.create_secret(Name="db", SecretString=json.dumps(DB_SECRET))["ARN"]
    assert cache.database_dsn(arn) == "postgresql://prism:p%40ss%2Fword@db.example:5433/logs?sslmode=require"


def test_a_url_secret_plain_or_in_json_is_used_as_is() -> None:
    url = "postgresql://u:p@h:5432/prism?sslmode=require"
    assert dsn_from_secret(url) == url
    assert dsn_from_secret(json.dumps({"url": url})) == url


def test_an_rds_managed_secret_takes_host_port_and_name_from_the_defaults() -> None:
    dsn = dsn_from_secret(
        json.dumps({"username": "postgres", "password": "x"}), defaults={"host": "proxy.example", "port": 5432}
    )
    assert dsn == "postgresql://postgres:x@proxy.example:5432/prism?sslmode=require"


@pytest.mark.parametrize("value", ['{"username": "u"}', "[1]", "{not json"])
def test_an_unusable_database_secret_is_a_config_error(value: str) -> None:
    with pytest.raises(ConfigError, match="database secret"):
        dsn_from_secret(value)


def test_repeats_are_served_from_the_cache_until_the_ttl(
    sm: Any, cache: SecretCache, counting: CountingClient, clock: TestClock
) -> None:
    arn = sm.create_secret(Name="key", SecretString="one")["ARN"]
    assert [cache.get(arn) for _ in range(3)] == ["one"] * 3
    assert counting.calls == 1
    sm.put_secret_value(SecretId=arn, SecretString="two")  # rotated
    clock.advance(seconds=299)
    assert cache.get(arn) == "one"
    clock.advance(seconds=1)
    assert cache.get(arn) == "two"
    assert counting.calls == 2


def test_a_refused_dsn_makes_its_secret_be_read_again_at_once(sm: Any, cache: SecretCache) -> None:
    arn = sm.create_secret(Name="db", SecretString=json.dumps(DB_SECRET))["ARN"]
    old = cache.database_dsn(arn)
    sm.put_secret_value(SecretId=arn, SecretString=json.dumps({**DB_SECRET, "password": "new"}))
    assert cache.current_dsn(old) == old  # within the TTL
    assert cache.forget_dsn(old)
    new = cache.current_dsn(old)
    assert new == "postgresql://prism:new@db.example:5433/logs?sslmode=require"
    assert not cache.forget_dsn("postgresql://postgres@127.0.0.1/prism")  # from no secret: nothing to drop
    assert cache.current_dsn("postgresql://postgres@127.0.0.1/prism") == "postgresql://postgres@127.0.0.1/prism"


def test_secrets_manager_down_keeps_the_last_value_and_fails_clearly_without_one(
    sm: Any, cache: SecretCache, counting: CountingClient, clock: TestClock
) -> None:
    arn = sm.create_secret(Name="key", SecretString="one")["ARN"]
    assert cache.get(arn) == "one"
    counting.down = True
    clock.advance(seconds=600)
    assert cache.get(arn) == "one"
    other = sm.create_secret(Name="other", SecretString="x")["ARN"]
    with pytest.raises(ConfigError, match="cannot read secret"):
        cache.get(other)


def test_a_missing_secret_is_a_config_error(cache: SecretCache) -> None:
    with pytest.raises(ConfigError, match="cannot read secret"):
        cache.get("arn:aws:secretsmanager:us-east-1:123456789012:secret:nope")


def test_settings_read_every_secret_from_its_arn_and_never_the_plain_variable(
    sm: Any, cache: SecretCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = sm.create_secret(Name="db", SecretString=json.dumps({"username": "u", "password": "pw"}))["ARN"]
    key = sm.create_secret(Name="key", SecretString="ingest-key\n")["ARN"]
    creds = sm.create_secret(Name="creds", SecretString="fernet-key")["ARN"]
    admin = sm.create_secret(Name="admin", SecretString=json.dumps({"email": "a@b.c", "password": "s3cret"}))["ARN"]
    env = {
        "PRISM_DATABASE_URL": "postgresql://plain@127.0.0.1/prism",
        "PRISM_DATABASE_SECRET_ARN": db,
        "PRISM_DATABASE_HOST": "proxy.example",
        "PRISM_API_KEY_SECRET_ARN": key,
        "PRISM_CREDS_KEY_SECRET_ARN": creds,
        "PRISM_ADMIN_SECRET_ARN": admin,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings().with_secrets()
    assert settings.database_dsn == "postgresql://u:pw@proxy.example:5432/prism?sslmode=require"
    assert settings.api_keys == ["ingest-key"]
    assert settings.creds_key == "fernet-key"
    assert (settings.admin_email, settings.admin_password) == ("a@b.c", "s3cret")


def test_without_arns_the_plain_variables_are_used_and_nothing_is_fetched(
    cache: SecretCache, counting: CountingClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRISM_DATABASE_URL", "postgresql://plain@127.0.0.1:5432/prism")
    monkeypatch.setenv("PRISM_API_KEY", "k")
    settings = Settings().with_secrets()
    assert settings.database_dsn == "postgresql://plain@127.0.0.1:5432/prism"
    assert settings.api_keys == ["k"]
    assert counting.calls == 0


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ('FATAL:  password authentication failed for user "prism"', True),
        ('FATAL:  role "nobody" does not exist', True),
        ("The IAM authentication failed for the role prism", True),
        ("connection refused", False),
        ('FATAL:  database "x" does not exist', False),
    ],
)
def test_auth_failures_are_told_from_other_connection_errors(message: str, expected: bool) -> None:
    assert is_auth_failure(Exception(message)) is expected
