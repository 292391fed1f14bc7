"""The connection pools with a DSN from a secret, on the real PostgreSQL and moto's Secrets Manager:
a rotated secret reaches new connections at once when PostgreSQL refuses the old credentials (the
cache's TTL not yet over), and no statement is prepared on the server (RDS Proxy would pin it)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from prism.adapters.postgres import connect
from prism.adapters.postgres_pool import PooledPostgres
from prism.errors import StoreError
from prism.secrets import SecretCache, set_default_cache

from tests.support.clock import TestClock

pytestmark = pytest.mark.integration


@pytest.fixture
def cache(sm: Any) -> Iterator[SecretCache]:
    cache = SecretCache(lambda: sm, ttl_s=300, clock=TestClock(datetime(2030, 1, 1, tzinfo=UTC)))
    set_default_cache(cache)
    yield cache
    set_default_cache(None)


def secret_for(database_url: str, username: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(database_url)
    return json.dumps(
        {
            "username": username,
            "password": "unused-with-trust-auth",
            "host": info.get("host") or "127.0.0.1",
            "port": int(info.get("port") or 5432),
            "dbname": info["dbname"],
            "sslmode": "disable",
        }
    )


def test_a_pool_picks_up_a_rotated_secret_when_the_old_credentials_are_refused(
    sm: Any, cache: SecretCache, database_url: str
) -> None:
    arn = sm.create_secret(Name="db", SecretString=secret_for(database_url, "prism_no_such_role"))["ARN"]
    dsn = cache.database_dsn(arn)  # what prism.config hands the stores
    sm.put_secret_value(SecretId=arn, SecretString=secret_for(database_url, "postgres"))  # rotated
    store = PooledPostgres(dsn, name="rotation-test", timeout=8.0)
    try:
        store.ping()  # the first attempt is refused (the cached, old secret), the next one reads the new one
    finally:
        store.close()


def test_a_new_connection_picks_up_a_rotated_secret_after_a_refusal(
    sm: Any, cache: SecretCache, database_url: str
) -> None:
    arn = sm.create_secret(Name="db", SecretString=secret_for(database_url, "prism_no_such_role"))["ARN"]
    dsn = cache.database_dsn(arn)
    sm.put_secret_value(SecretId=arn, SecretString=secret_for(database_url, "postgres"))
    with pytest.raises(StoreError, match="cannot connect"):
        connect(dsn)
    with connect(dsn) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("postgres",)


def test_the_pool_prepares_no_statement_on_the_server(database_url: str) -> None:
    store = PooledPostgres(database_url, name="prepare-test")
    try:
        with store._conn() as conn:
            for _ in range(10):  # psycopg prepares a query run 5 times by default
                conn.execute("SELECT %s::int AS n", (1,))
            rows = conn.execute("SELECT count(*) AS n FROM pg_prepared_statements").fetchone()
            assert rows == {"n": 0}
    finally:
        store.close()
