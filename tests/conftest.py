"""Shared fixtures. Real PostgreSQL and Redis (the machine's), S3/Kinesis through a moto server.

Every test session gets its own database (created, migrated, dropped) and every test its own
Redis key prefix, so parallel runs and CI on the same machine never collide.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.profile import PG_ADMIN, TEST_PROFILE  # PRISM_TEST_PG, PRISM_TEST_PROFILE

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
# LiteLLM loads ./.env into os.environ at import unless told it runs in production mode: a
# developer's .env must not leak into the tests.
os.environ.setdefault("LITELLM_MODE", "PRODUCTION")
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("AWS_REGION", "us-east-1")
# The test clients' Host ("testserver") and the Function URL hosts of the Lambda test events are let in;
# rate limits are off except in the tests of them (tests/integration/test_edge.py), which set their own.
os.environ.setdefault("PRISM_ALLOWED_HOSTS", "testserver,*.on.aws,*.amazonaws.com")
for _limit in (
    "PRISM_RATE_LIMIT_CHAT_TURNS",
    "PRISM_RATE_LIMIT_AUTH_FAILURES",
    "PRISM_RATE_LIMIT_INGEST",
    "PRISM_RATE_LIMIT_LOGIN_FAILURES",
):
    os.environ.setdefault(_limit, "")

# PRISM_TEST_CLOCK=2028-02-29T10:00:00Z runs the session on a shifted wall clock (ticking from there;
# monotonic time is untouched), before any test module reads the time: tests/integration/test_clock_shift.py
# runs the date-sensitive tests (marker ``clock``) so on far dates.
if os.environ.get("PRISM_TEST_CLOCK"):
    import time_machine

    time_machine.travel(os.environ["PRISM_TEST_CLOCK"], tick=True).start()

REDIS_URL = os.environ.get("PRISM_TEST_REDIS", "redis://127.0.0.1:6379/0")
ROOT = Path(__file__).resolve().parent.parent
EVENTS = Path(__file__).resolve().parent / "events"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tier markers come from the folder: tests/unit, tests/integration, tests/e2e."""
    for item in items:
        parts = Path(str(item.fspath)).parts
        for tier in ("unit", "integration", "e2e"):
            if tier in parts:
                item.add_marker(getattr(pytest.mark, tier))


def _db_url(name: str) -> str:
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + name


def fresh_database(prefix: str = "prism_test") -> str:
    """Create and migrate a new database; the caller drops it with ``drop_database``."""
    from prism.adapters.postgres import migrate

    url = _db_url(f"{prefix}_{uuid.uuid4().hex[:10]}")
    migrate(url, profile=TEST_PROFILE)
    return url


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A migrated database for the whole session, on the profile of PRISM_TEST_PROFILE (postgres)."""
    from prism.adapters.postgres import drop_database

    url = fresh_database()
    yield url
    drop_database(url)


@pytest.fixture
def clean_database(database_url: str) -> Iterator[str]:
    """The session database with the log tables emptied before the test."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "TRUNCATE inference_logs, tool_invocations, inference_event_ids, "
            "latency_hist_minute, latency_hist_hour, latency_hist_day"
        )
        conn.execute("TRUNCATE metrics_minute")  # a continuous aggregate on TimescaleDB: on its own
    yield database_url


@pytest.fixture
def identity(database_url: str) -> Iterator[Any]:
    """An identity service on the session database, for the apps under test (``create_app(...,
    identity=identity)``); ``tests.support.auth`` signs callers in with it."""
    from prism.adapters.postgres_identity import PostgresIdentityStore

    from tests.support.auth import test_identity

    store = PostgresIdentityStore(database_url)
    yield test_identity(store)
    store.close()


@pytest.fixture
def redis_url() -> str:
    return REDIS_URL


@pytest.fixture
def stream_name(redis_url: str) -> Iterator[str]:
    """A Redis stream name unique to this test; its keys are deleted afterwards."""
    import redis

    name = f"prism-test:{uuid.uuid4().hex[:12]}:inference.logged"
    yield name
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=name.split(":inference")[0] + ":*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture(scope="session")
def aws_endpoint() -> Iterator[str]:
    """A moto server (S3 + Kinesis) on a free port for the session."""
    from moto.server import ThreadedMotoServer

    from tests.support.net import free_port

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    yield url
    server.stop()
