"""Every bad request gets its 4xx and a JSON body saying what is wrong; readiness names the
failing part. The app runs in-process against the real Redis."""

from __future__ import annotations

import gzip
from collections.abc import Iterator

import orjson
import pytest
from fastapi.testclient import TestClient
from ingestion.app import create_app
from prism.adapters.memory import MemoryRawPayloadStore
from prism.adapters.redis_streams import RedisStreamsBus
from prism.config import Settings
from prism.ingest import Ingestor
from prism.redact import RegexRedactor

from tests.integration.pipeline.conftest import make_event

KEY = "test-key-1"


@pytest.fixture
def client(redis_url: str, stream_name: str) -> Iterator[TestClient]:
    settings = Settings(api_key=f"{KEY},old-key", redis_url=redis_url, stream=stream_name, max_request_bytes=64 * 1024)
    ingestor = Ingestor(RedisStreamsBus(redis_url, stream_name, 1000), RegexRedactor(), MemoryRawPayloadStore())
    with TestClient(create_app(settings, ingestor), raise_server_exceptions=False) as c:
        yield c


AUTH = {"Authorization": f"Bearer {KEY}"}


def error_of(response: object) -> dict[str, str]:
    body = response.json()  # type: ignore[attr-defined]
    assert set(body["error"]) >= {"code", "message"} and body["error"]["message"]
    return body["error"]  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "unauthorized"),
        ({"Authorization": "Bearer wrong"}, "unauthorized"),
        ({"Authorization": "Basic x"}, "unauthorized"),
    ],
)
def test_unauthorised(client: TestClient, headers: dict[str, str], code: str) -> None:
    response = client.post("/v1/events", json={"events": [make_event()]}, headers=headers)
    assert response.status_code == 401
    assert error_of(response)["code"] == code


def test_rotated_key_still_accepted(client: TestClient) -> None:
    response = client.post("/v1/events", json={"events": [make_event()]}, headers={"Authorization": "Bearer old-key"})
    assert response.status_code == 202


@pytest.mark.parametrize(
    ("kwargs", "status", "code"),
    [
        ({"content": b"{}", "headers": {"Content-Type": "text/plain"}}, 415, "unsupported_media_type"),
        ({"content": b"{oops", "headers": {"Content-Type": "application/json"}}, 400, "invalid_json"),
        ({"content": b"[1,2]", "headers": {"Content-Type": "application/json"}}, 422, "validation_error"),
        ({"json": {"events": []}}, 422, "validation_error"),
        ({"json": {"events": "x"}}, 422, "validation_error"),
        ({"json": {"events": [{"id": "x"}]}}, 422, "validation_error"),
        ({"json": {"events": [{}] * 501}}, 413, "too_many_events"),
        ({"content": b"x" * (65 * 1024), "headers": {"Content-Type": "application/json"}}, 413, "payload_too_large"),
        (
            {"content": b"not gzip", "headers": {"Content-Type": "application/json", "Content-Encoding": "gzip"}},
            400,
            "invalid_gzip",
        ),
        (
            {"content": b"{}", "headers": {"Content-Type": "application/json", "Content-Encoding": "br"}},
            415,
            "unsupported_media_type",
        ),
        (
            {
                "content": gzip.compress(b'{"events": [' + b'"' + b"a" * (200 * 1024) + b'"]}'),
                "headers": {"Content-Type": "application/json", "Content-Encoding": "gzip"},
            },
            413,
            "payload_too_large",
        ),
    ],
    ids=[
        "media-type",
        "not-json",
        "not-object",
        "empty",
        "not-list",
        "all-invalid",
        "too-many",
        "too-big",
        "bad-gzip",
        "brotli",
        "gzip-bomb",
    ],
)
def test_bad_requests(client: TestClient, kwargs: dict[str, object], status: int, code: str) -> None:
    headers = {**AUTH, **kwargs.pop("headers", {})}  # type: ignore[dict-item]
    response = client.post("/v1/events", headers=headers, **kwargs)  # type: ignore[arg-type]
    assert response.status_code == status, response.text
    assert error_of(response)["code"] == code


def test_partial_batch_gets_207_with_reasons(client: TestClient) -> None:
    good, bad = make_event(), make_event(status="maybe")
    response = client.post("/v1/events", headers=AUTH, json={"events": [good, bad]})
    assert response.status_code == 207
    body = response.json()
    assert body["accepted"] == 1
    assert body["rejected"][0]["index"] == 1 and body["rejected"][0]["id"] == bad["id"]
    assert any("status" in e for e in body["rejected"][0]["errors"])


def test_all_invalid_lists_every_error(client: TestClient) -> None:
    response = client.post("/v1/events", headers=AUTH, json={"events": [{"id": "x"}, 5]})
    assert response.status_code == 422
    assert [r["index"] for r in response.json()["error"]["rejected"]] == [0, 1]


def test_unknown_route_and_method_are_json(client: TestClient) -> None:
    assert error_of(client.get("/nope"))["code"] == "not_found"
    assert client.get("/v1/events").status_code == 405


def test_health_and_openapi(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["checks"] == {"bus": "ok", "raw_store": "ok"}
    figures = {"entries", "pending", "lag", "dead_letters", "trimmed", "consumers", "redis_used_memory"}
    assert figures <= set(ready["pipeline"])
    spec = client.get("/openapi.json").json()
    assert "/v1/events" in spec["paths"] and "InferenceEventV1" in spec["components"]["schemas"]


def test_readyz_names_the_failing_part(stream_name: str) -> None:
    settings = Settings(api_key=KEY)
    dead_bus = RedisStreamsBus("redis://127.0.0.1:1/0", stream_name, 1000)
    app = create_app(settings, Ingestor(dead_bus, RegexRedactor(), MemoryRawPayloadStore()))
    with TestClient(app) as c:
        response = c.get("/readyz")
        assert response.status_code == 503
        assert "bus" in error_of(response)["message"]
        # and ingestion answers 503 (retry), not 500, when the bus is down
        down = c.post("/v1/events", headers=AUTH, json={"events": [make_event()]})
        assert down.status_code == 503 and error_of(down)["code"] == "bus_unavailable"
        assert down.headers["Retry-After"] == "1"


def test_body_events_survive_orjson_roundtrip(client: TestClient, redis_url: str, stream_name: str) -> None:
    import redis

    event = make_event()
    assert client.post("/v1/events", headers=AUTH, json={"events": [event]}).status_code == 202
    entries = redis.Redis.from_url(redis_url).xrange(stream_name)
    record = orjson.loads(entries[-1][1][b"b"])
    assert record["event"]["id"] == event["id"] and "jane.doe" not in entries[-1][1][b"b"].decode()


def test_readyz_survives_a_stream_key_of_the_wrong_type(redis_url: str, stream_name: str) -> None:
    import redis as redis_lib

    redis_lib.Redis.from_url(redis_url).set(stream_name, "not a stream")
    settings = Settings(api_key=KEY, redis_url=redis_url, stream=stream_name)
    app = create_app(settings, Ingestor(RedisStreamsBus(redis_url, stream_name, 1000), RegexRedactor(), None))
    with TestClient(app) as c:
        response = c.get("/readyz")
    assert response.status_code == 200
    assert "WRONGTYPE" in response.json()["pipeline"]["error"]


def test_stream_trimming_is_counted(redis_url: str, stream_name: str) -> None:
    import redis as redis_lib

    bus = RedisStreamsBus(redis_url, stream_name, maxlen=10)
    trimmed = sum(bus.publish([("k", b"{}")]).trimmed for _ in range(400))
    client = redis_lib.Redis.from_url(redis_url)
    assert trimmed > 0 and client.xlen(stream_name) < 400
    assert int(client.hget(f"{stream_name}:stats", "trimmed")) == trimmed  # type: ignore[arg-type]
    assert bus.stats()["trimmed"] == trimmed


def test_the_bus_is_chosen_by_settings(aws_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from prism.adapters.kinesis import KinesisBus
    from prism.bootstrap import build_bus

    monkeypatch.setenv("AWS_ENDPOINT_URL", aws_endpoint)
    assert isinstance(build_bus(Settings(bus="kinesis", kinesis_stream="s")), KinesisBus)
    assert isinstance(build_bus(Settings(bus="redis")), RedisStreamsBus)
