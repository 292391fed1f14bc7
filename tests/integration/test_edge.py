"""The ingestion and query APIs' edge, over real Redis and PostgreSQL: the Host allow-list (DNS
rebinding), no cross-site state change, and the rate limits on what a caller can repeat (failed
authentications per address and per key, ingestion requests per key), answered 429 + Retry-After."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from ingestion.app import create_app as create_ingestion_app
from prism.adapters.memory import MemoryRawPayloadStore
from prism.adapters.postgres_query import PostgresQueryStore
from prism.adapters.redis_streams import RedisStreamsBus
from prism.config import Settings
from prism.identity.service import IdentityService
from prism.ingest import Ingestor
from prism.redact import RegexRedactor
from query.app import create_app as create_query_app

from tests.integration.pipeline.conftest import make_event
from tests.support.auth import signed_in

KEY = "edge-test-key-0123456789"


def ingestion_app(redis_url: str, stream_name: str, **limits: str) -> FastAPI:
    settings = Settings(api_key=f"{KEY},older-key-0123456789", redis_url=redis_url, stream=stream_name, **limits)  # type: ignore[arg-type]
    bus = RedisStreamsBus(redis_url, stream_name, 1000)
    return create_ingestion_app(settings, Ingestor(bus, RegexRedactor(), MemoryRawPayloadStore()))


def ingestion(redis_url: str, stream_name: str, address: str = "203.0.113.1", **limits: str) -> TestClient:
    app = ingestion_app(redis_url, stream_name, **limits)
    return TestClient(app, base_url="http://127.0.0.1:8101", client=(address, 50000))


@pytest.fixture
def query(clean_database: str, identity: IdentityService) -> Iterator[TestClient]:
    store = PostgresQueryStore(clean_database)
    app = create_query_app(Settings(env="test"), store=store, dashboards=store, identity=identity)
    with signed_in(TestClient(app, base_url="http://localhost:8102"), identity, "member") as c:
        yield c
    store.close()


def post(client: TestClient, key: str | None = KEY, **headers: str) -> int:
    auth = {"Authorization": f"Bearer {key}"} if key else {}
    return client.post("/v1/events", json={"events": [make_event()]}, headers={**auth, **headers}).status_code


def test_hosts_other_than_this_service_are_refused(redis_url: str, stream_name: str, query: TestClient) -> None:
    with ingestion(redis_url, stream_name) as ing:
        for client, path in ((ing, "/healthz"), (query, "/api/logs")):
            resp = client.get(path, headers={"Host": "rebound.attacker.example:8101"})
            assert resp.status_code == 400 and resp.json()["error"]["code"] == "invalid_host"
            assert client.get(path).status_code == 200  # loopback names are served
        assert post(ing, Host="rebound.attacker.example") == 400


def test_no_page_of_another_origin_changes_anything(redis_url: str, stream_name: str, query: TestClient) -> None:
    with ingestion(redis_url, stream_name) as ing:
        # ingestion takes events from SDKs, never from browser pages
        assert post(ing, Origin="http://evil.example") == 403
        assert post(ing) == 202
    spec = {"name": "x", "spec": {"panels": []}}
    assert query.post("/api/dashboards", json=spec, headers={"Origin": "http://evil.example"}).status_code == 403
    form = query.post("/api/dashboards", data={"name": "x"})
    assert form.status_code == 415 and form.json()["error"]["code"] == "unsupported_media_type"
    assert all(d["name"] != "x" for d in query.get("/api/dashboards").json())


def test_failed_authentications_are_limited_per_address_and_then_even_a_good_key_waits(
    redis_url: str, stream_name: str
) -> None:
    with ingestion(redis_url, stream_name, rate_limit_auth_failures="5/minute") as ing:
        assert [post(ing, key=f"guess-{i}") for i in range(5)] == [401] * 5
        refused = ing.post("/v1/events", json={"events": []}, headers={"Authorization": "Bearer guess-6"})
        assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert "failed authentications" in refused.json()["error"]["message"]
        # the address is refused before its key is looked at: no oracle while it is blocked
        assert post(ing) == 429
        assert post(ing, key=None) == 429


def test_failed_authentications_are_limited_per_key_presented_from_any_address(
    redis_url: str, stream_name: str
) -> None:
    app = ingestion_app(redis_url, stream_name, rate_limit_auth_failures="3/minute")
    # GIVEN one guessed key tried from three addresses (each under its own limit)
    for i in range(3):
        with TestClient(app, base_url="http://127.0.0.1:8101", client=(f"198.51.100.{i}", 1)) as c:
            assert post(c, key="same-guess") == 401
    # THEN a fourth address trying that key is refused; the same address with another guess is not yet
    with TestClient(app, base_url="http://127.0.0.1:8101", client=("198.51.100.9", 1)) as c:
        assert post(c, key="same-guess") == 429
        assert post(c, key="other-guess") == 401


def test_limits_are_shared_between_instances_through_redis(redis_url: str, stream_name: str) -> None:
    limits = {"rate_limit_auth_failures": "3/minute", "rate_limit_storage": redis_url}
    with ingestion(redis_url, stream_name, **limits) as first, ingestion(redis_url, stream_name, **limits) as second:
        assert [post(first, key="shared-guess") for _ in range(2)] == [401, 401]
        assert post(second, key="shared-guess") == 401
        assert post(second, key="shared-guess") == 429  # the others were counted on the other instance


def test_ingestion_requests_are_limited_per_key(redis_url: str, stream_name: str) -> None:
    with ingestion(redis_url, stream_name, rate_limit_ingest="4/minute") as ing:
        assert [post(ing) for _ in range(4)] == [202] * 4
        assert post(ing) == 429
        assert post(ing, key="older-key-0123456789") == 202  # another key has its own share
