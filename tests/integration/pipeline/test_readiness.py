"""Readiness tells the truth about the pipeline behind the bus. GIVEN the ingestion API on a real
Redis stream WHEN no writer exists, a writer runs, the writer stops with entries waiting, or its
group has no consumer left THEN /readyz says ok only while a writer is active, and otherwise
"degraded" with the reason (HTTP 200: this instance still accepts events; 503 with ?strict=true)."""

from __future__ import annotations

import threading
import time
from typing import Any

import redis
from fastapi.testclient import TestClient
from ingestion.app import create_app
from prism.adapters.postgres import PostgresLogStore
from prism.adapters.redis_streams import RedisStreamsBus, RedisStreamsReader
from prism.config import Settings
from prism.ingest import Ingestor
from prism.redact import RegexRedactor
from prism.write import RecordWriter
from writer.consumer import StreamConsumer

from tests.integration.pipeline.conftest import make_event

KEY = "ready-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


def wait_for(c: TestClient, want: str, timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, Any] = c.get("/readyz").json()
        if body.get("status") == want or time.monotonic() > deadline:
            assert body.get("status") == want, body
            return body
        time.sleep(0.1)


def test_readyz_reports_a_missing_or_stalled_writer(redis_url: str, stream_name: str, clean_database: str) -> None:
    settings = Settings(api_key=KEY, redis_url=redis_url, stream=stream_name, writer_stalled_after_s=1.0)
    app = create_app(settings, Ingestor(RedisStreamsBus(redis_url, stream_name, 10_000), RegexRedactor(), None))
    store = PostgresLogStore(clean_database)
    client = redis.Redis.from_url(redis_url)
    with TestClient(app) as c:
        # GIVEN no writer ever started
        assert c.post("/v1/events", headers=AUTH, json={"events": [make_event()]}).status_code == 202
        response = c.get("/readyz")
        assert response.status_code == 200 and response.json()["status"] == "degraded"
        assert "consumer group 'cg-writer' does not exist" in response.json()["degraded"][0]

        # WHEN a writer runs THEN ok, and nothing waits
        consumer = StreamConsumer(
            RedisStreamsReader(redis_url, stream_name, "cg-writer", "w1"), RecordWriter(store), block_ms=50
        )
        worker = threading.Thread(target=consumer.run, daemon=True)
        worker.start()
        ok = wait_for(c, "ok")  # at once: the writer heartbeats from its start
        assert ok["pipeline"]["consumers"] == 1
        deadline = time.monotonic() + 20
        while (figures := c.get("/readyz").json()["pipeline"])["lag"] or figures["pending"]:
            assert time.monotonic() < deadline, figures  # and it drains what was waiting
            time.sleep(0.05)

        # WHEN it stops (its consumer stays in the group, as after SIGKILL) with entries waiting
        consumer.stop.set()
        worker.join(timeout=15)
        assert c.post("/v1/events", headers=AUTH, json={"events": [make_event()]}).status_code == 202
        assert c.post("/v1/events", headers=AUTH, json={"events": [make_event()]}).status_code == 202
        doomed = RedisStreamsReader(redis_url, stream_name, "cg-writer", "w2")
        assert len(doomed.read(1, 0)) == 1  # another writer read one entry and died holding it
        stalled = wait_for(c, "degraded")
        reason = stalled["degraded"][0]
        assert reason.startswith("writer stalled: 1 entries pending") and "1 entries not yet delivered" in reason
        assert "PRISM_WRITER_STALLED_AFTER_S=1" in reason
        strict = c.get("/readyz", params={"strict": "true"})
        assert strict.status_code == 503 and strict.json()["error"]["code"] == "pipeline_degraded"
        assert strict.json()["degraded"][0].startswith("writer stalled: 1 entries pending")

        # WHEN the group has no consumer left (an operator's XGROUP DELCONSUMER; w2's pending entry goes with it)
        for name in ("w1", "w2"):
            client.xgroup_delconsumer(stream_name, "cg-writer", name)
        gone = c.get("/readyz").json()
        assert gone["status"] == "degraded"
        assert gone["degraded"] == ["no writer: consumer group 'cg-writer' has no consumers"]

        # WHEN a writer comes back THEN it catches up and readiness is ok again
        consumer = StreamConsumer(
            RedisStreamsReader(redis_url, stream_name, "cg-writer", "w3"),
            RecordWriter(store),
            block_ms=50,
            claim_idle_ms=100,
        )
        worker = threading.Thread(target=consumer.run, daemon=True)
        worker.start()
        try:
            back = wait_for(c, "ok")
            deadline = time.monotonic() + 20
            while (back["pipeline"]["pending"] or back["pipeline"]["lag"]) and time.monotonic() < deadline:
                time.sleep(0.1)
                back = c.get("/readyz").json()
            assert back["pipeline"]["pending"] == 0 and back["pipeline"]["lag"] == 0, back
        finally:
            consumer.stop.set()
            worker.join(timeout=15)
    store.close()
    client.close()


def test_an_idle_writer_is_ready_from_its_start_and_a_dead_one_is_not(
    redis_url: str, stream_name: str, clean_database: str
) -> None:
    # Redis 7.0 counts neither an empty blocking read nor XAUTOCLAIM as a consumer's activity: without
    # the writer's heartbeat, an idle writer looks dead once PRISM_WRITER_STALLED_AFTER_S has passed.
    settings = Settings(api_key=KEY, redis_url=redis_url, stream=stream_name, writer_stalled_after_s=1.0)
    app = create_app(settings, Ingestor(RedisStreamsBus(redis_url, stream_name, 10_000), RegexRedactor(), None))
    store = PostgresLogStore(clean_database)
    with TestClient(app) as c:
        # GIVEN a writer started on a stream nothing was sent to
        consumer = StreamConsumer(
            RedisStreamsReader(redis_url, stream_name, "cg-writer", "idle"),
            RecordWriter(store),
            block_ms=50,
            heartbeat_s=0.25,
        )
        worker = threading.Thread(target=consumer.run, daemon=True)
        worker.start()
        # THEN it counts as a consumer at once, and stays ok well past the stall threshold while idle
        ok = wait_for(c, "ok")
        assert ok["pipeline"]["consumers"] == 1
        deadline = time.monotonic() + 3.0  # three stall thresholds with no event at all
        while time.monotonic() < deadline:
            body = c.get("/readyz").json()
            assert body["status"] == "ok", body
            time.sleep(0.2)
        # WHEN it dies THEN the next check past the threshold says so, by name
        consumer.stop.set()
        worker.join(timeout=15)
        gone = wait_for(c, "degraded")
        assert gone["degraded"][0].startswith("writer gone: no consumer of 'cg-writer' has been active")
    store.close()
