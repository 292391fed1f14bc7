"""Nothing blocking runs on the ingestion API's event loop. GIVEN the API in-process against a Redis
server the test starts itself WHEN that Redis is stopped (SIGSTOP) while a publish is in flight
THEN /healthz still answers at once, /readyz answers 503 naming the bus within its own deadline,
and the publish completes once Redis runs again."""

from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
from ingestion.app import create_app
from prism.adapters.memory import MemoryRawPayloadStore
from prism.adapters.redis_streams import RedisStreamsBus
from prism.config import Settings
from prism.ingest import Ingestor
from prism.redact import RegexRedactor

from tests.integration.pipeline.conftest import RedisServer, make_event
from tests.support.net import ThreadServer

KEY = "loop-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


def unread_bytes_at(port: int) -> int:
    """Bytes clients sent to the server on ``port`` that it has not read yet (its receive queues)."""
    total = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]  # noqa: SIM115
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            local, state, queues = parts[1], parts[3], parts[4]
            if state == "01" and int(local.rsplit(":", 1)[1], 16) == port:
                total += int(queues.split(":")[1], 16)
    return total


def timed_get(client: httpx.Client, path: str) -> tuple[float, httpx.Response]:
    started = time.perf_counter()
    response = client.get(path)
    return time.perf_counter() - started, response


def test_healthz_answers_while_a_publish_hangs_on_a_stopped_redis(private_redis: RedisServer) -> None:
    stream = "loop-test:inference.logged"
    settings = Settings(api_key=KEY, redis_url=private_redis.url, stream=stream)
    ingestor = Ingestor(RedisStreamsBus(private_redis.url, stream, 1000), RegexRedactor(), MemoryRawPayloadStore())
    body = {"events": [make_event() for _ in range(50)]}
    with ThreadServer(create_app(settings, ingestor)) as server, httpx.Client(base_url=server.url, timeout=15) as c:
        assert c.post("/v1/events", headers=AUTH, json=body).status_code == 202  # the bus is connected
        baseline = statistics.median(timed_get(c, "/healthz")[0] for _ in range(20))
        private_redis.pause()
        try:
            with ThreadPoolExecutor(1) as pool:
                hung = pool.submit(
                    httpx.post, server.url + "/v1/events", headers=AUTH, json={"events": [make_event()]}, timeout=30
                )
                deadline = time.monotonic() + 10
                while unread_bytes_at(private_redis.port) == 0:  # the XADD sits unread in Redis's socket
                    assert time.monotonic() < deadline and not hung.done(), "the publish never reached Redis"
                    time.sleep(0.01)
                during = [timed_get(c, "/healthz") for _ in range(20)]
                ready_s, ready = timed_get(c, "/readyz")
                still_hung = not hung.done()
                private_redis.resume()
                published = hung.result(timeout=30)
        finally:
            private_redis.resume()
    worst = max(t for t, _ in during)
    print(f"\n/healthz baseline median {baseline * 1000:.2f} ms; with the publish hung: worst {worst * 1000:.2f} ms")
    print(f"/readyz with Redis hung: {ready.status_code} in {ready_s * 1000:.0f} ms")
    assert all(r.status_code == 200 and r.json() == {"status": "ok"} for _, r in during)
    # /healthz did not wait for the publish: it was still in flight after 20 answers (the times printed
    # above are for the reader; a bound on them would be a bound on the machine's speed)
    assert still_hung
    assert ready.status_code == 503 and "bus" in ready.json()["error"]["message"]
    assert published.status_code == 202, published.text
