"""Redis memory is bounded. GIVEN the writer keeping up with a steady load WHEN many batches have
gone through THEN the stream holds only what is not yet acknowledged and Redis's memory is flat
(count-based: the same number of batches before each sample, whatever the machine's speed)."""

from __future__ import annotations

import threading
import time

import psycopg
import redis
from prism.adapters.postgres import PostgresLogStore
from prism.adapters.redis_streams import RedisStreamsBus, RedisStreamsReader, entry_of
from prism.ingest import Ingestor
from prism.redact import RegexRedactor
from prism.write import RecordWriter
from writer.consumer import StreamConsumer

from tests.integration.pipeline.conftest import RedisServer, make_event

ROUNDS, EVENTS_PER_ROUND, SAMPLE_EVERY = 240, 50, 20


def drained(client: redis.Redis, stream: str, group: str) -> bool:
    info = client.xinfo_stream(stream)
    groups = {g["name"].decode(): g for g in client.xinfo_groups(stream)}
    g = groups.get(group)
    return g is not None and g["pending"] == 0 and g["last-delivered-id"] == info["last-generated-id"]


def test_stream_memory_stays_flat_once_the_writer_keeps_up(private_redis: RedisServer, clean_database: str) -> None:
    stream, group = "soak:inference.logged", "cg-writer"
    ingestor = Ingestor(RedisStreamsBus(private_redis.url, stream, 1_000_000), RegexRedactor(), None)
    store = PostgresLogStore(clean_database)
    reader = RedisStreamsReader(private_redis.url, stream, group, "soak-writer")
    consumer = StreamConsumer(reader, RecordWriter(store), block_ms=20)
    worker = threading.Thread(target=consumer.run, daemon=True)
    worker.start()
    client = redis.Redis.from_url(private_redis.url)
    samples: list[tuple[int, int, int]] = []  # (stream entries, stream bytes, Redis used_memory)
    try:
        for n in range(1, ROUNDS + 1):
            assert ingestor.ingest([make_event() for _ in range(EVENTS_PER_ROUND)]).accepted == EVENTS_PER_ROUND
            deadline = time.monotonic() + 30
            while not drained(client, stream, group):
                assert time.monotonic() < deadline and worker.is_alive(), f"writer fell behind at round {n}"
                time.sleep(0.005)
            if n % SAMPLE_EVERY == 0:
                used = int(client.info("memory")["used_memory"])
                samples.append((int(client.xlen(stream)), int(client.memory_usage(stream) or 0), used))
    finally:
        consumer.stop.set()
        worker.join(timeout=15)
        store.close()
    with psycopg.connect(clean_database) as conn:
        assert conn.execute("SELECT count(*) FROM inference_logs").fetchone() == (ROUNDS * EVENTS_PER_ROUND,)
    print("\n(entries, stream bytes, used_memory) every", SAMPLE_EVERY, "batches:", samples)
    warm = samples[1:]  # from the 40th batch on
    assert max(entries for entries, _, _ in warm) <= 2  # only what the writer has not acknowledged yet
    assert max(size for _, size, _ in warm) < 1024 * 1024
    assert max(used for _, _, used in warm) - warm[0][2] < 2 * 1024 * 1024  # flat (it grew ~1.6 MB per sample before)
    client.close()


def test_figures_report_redis_memory_and_its_policy(private_redis: RedisServer) -> None:
    bus = RedisStreamsBus(private_redis.url, "figures:inference.logged", 1000)
    bus.publish([("k", b"{}")])
    figures = bus.stats()
    assert figures["redis_used_memory"] > 0 and figures["stream_bytes"] > 0
    assert figures["redis_maxmemory"] == 256 * 1024 * 1024 and figures["redis_maxmemory_policy"] == "noeviction"
    bus.close()


def test_trimming_keeps_whatever_any_group_still_needs(redis_url: str, stream_name: str) -> None:
    client = redis.Redis.from_url(redis_url)
    ids = [client.xadd(stream_name, {b"d": b"%d" % i}).decode() for i in range(10)]
    fast = RedisStreamsReader(redis_url, stream_name, "fast", "f")
    slow = RedisStreamsReader(redis_url, stream_name, "slow", "s")
    fast.ensure_group()
    slow.ensure_group()
    fast.ack([m.id for m in fast.read(100, 0)])  # "fast" acknowledged all ten
    assert fast.trim_acknowledged() == 0  # "slow" has been delivered nothing yet
    got = slow.read(3, 0)
    slow.ack([got[0].id])  # "slow" acknowledged the first, holds the next two pending, has 7 to come
    assert fast.trim_acknowledged() == 1
    assert [e[0].decode() for e in client.xrange(stream_name)] == ids[1:]
    slow.ack([m.id for m in got] + [m.id for m in slow.read(100, 0)])
    assert slow.trim_acknowledged() == 9 and client.xlen(stream_name) == 0
    for reader in (fast, slow):
        reader.close()
    client.close()


def test_lag_is_counted_from_the_stream_ids_not_taken_from_redis(redis_url: str, stream_name: str) -> None:
    client = redis.Redis.from_url(redis_url)
    bus = RedisStreamsBus(redis_url, stream_name, 100_000)
    reader = RedisStreamsReader(redis_url, stream_name, "cg-writer", "w")
    reader.ensure_group()
    for _ in range(5):
        bus.publish([("k", b"{}")])
    reader.ack([entry_of(m.id) for m in reader.read(100, 0)])
    # GIVEN a group whose read counter Redis no longer knows (as after a restart or a replay):
    client.xgroup_setid(stream_name, "cg-writer", "$", entries_read=0)
    assert client.xinfo_groups(stream_name)[0]["lag"] == 5  # Redis's own figure, with nothing to deliver
    assert bus.stats()["lag"] == 0 and bus.stats()["lag_exact"]
    # GIVEN entries deleted ahead of the group, Redis cannot tell its lag at all
    added = [client.xadd(stream_name, {b"d": b"x"}) for _ in range(4)]
    client.xdel(stream_name, added[1])
    assert client.xinfo_groups(stream_name)[0]["lag"] is None
    assert bus.stats()["lag"] == 3
    # Past the counting cap the figure is a lower bound, and says so
    pipe = client.pipeline(transaction=False)
    for _ in range(1100):
        pipe.xadd(stream_name, {b"d": b"x"})
    pipe.execute()
    figures = bus.stats()
    assert figures["lag"] >= 1000 and not figures["lag_exact"]
    bus.close()
    reader.close()
    client.close()


def test_the_stream_is_capped_in_bytes_as_well_as_in_entries(redis_url: str, stream_name: str) -> None:
    cap = 512 * 1024
    bus = RedisStreamsBus(redis_url, stream_name, 1_000_000, max_bytes=cap)
    trimmed = sum(bus.publish([("k", b"x" * 20_000)]).trimmed for _ in range(200))  # 4 MB published
    client = redis.Redis.from_url(redis_url)
    size, length = int(client.memory_usage(stream_name) or 0), int(client.xlen(stream_name))
    assert trimmed == 200 - length and length < 200
    assert cap // 2 < size < cap + 64 * 1024  # about the cap: never far over, not emptied either
    assert bus.stats()["trimmed"] == trimmed
    bus.close()
    client.close()
