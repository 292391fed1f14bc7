"""Projects in the data plane (issue 11 §3), on the real PostgreSQL and Redis: the key that sends an
event decides its project (never the body), the writer keeps that project on the row, the rollup and
every histogram, revoked and expired keys are refused, and the key cache lets a revoked key go
within its lifetime. Key lifetimes and expiry run on a TestClock; the rows on the real one."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson
import psycopg
import pytest
from fastapi.testclient import TestClient
from ingestion.app import create_app
from prism.adapters.postgres import PostgresLogStore
from prism.adapters.postgres_keys import PostgresIngestKeys
from prism.adapters.redis_streams import RedisStreamsBus, RedisStreamsReader
from prism.config import Settings
from prism.identity.tokens import new_api_key
from prism.ingest import Ingestor
from prism.redact import RegexRedactor
from prism.write import RecordWriter

from tests.integration.pipeline.conftest import make_event
from tests.support.clock import TestClock

ENV_KEY = "env-key-0123456789"
T0 = datetime(2030, 6, 3, 12, tzinfo=UTC)


def new_project(dsn: str) -> str:
    slug = f"p-{uuid.uuid4().hex[:10]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO projects (slug, name) VALUES (%s, %s)", (slug, slug))
    return slug


def new_key(dsn: str, project: str, *, expires_at: datetime | None = None) -> str:
    """An ingestion key of ``project`` stored as the identity API stores one (prefix, digest)."""
    key = new_api_key("ingest")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO api_keys (kind, prefix, secret_hash, name, project_id, expires_at) "
            "SELECT 'ingest', %s, %s, 'test', id, %s FROM projects WHERE slug = %s",
            (key.prefix, key.secret_hash, expires_at, project),
        )
    return key.token


def revoke(dsn: str, token: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("UPDATE api_keys SET revoked_at = now() WHERE prefix = %s", (token[:21],))


@dataclass
class Pipeline:
    client: TestClient
    clock: TestClock
    reader: RedisStreamsReader
    writer: RecordWriter
    dsn: str

    def send(self, token: str, body: dict[str, object]) -> int:
        response = self.client.post("/v1/events", headers={"Authorization": f"Bearer {token}"}, json=body)
        return response.status_code

    def write(self) -> list[dict[str, object]]:
        """Write what the stream holds; the bus records it read."""
        messages = self.reader.read(1000, 0)
        assert not self.writer.handle(messages).failed
        return [orjson.loads(m.data) for m in messages]


@pytest.fixture
def pipeline(clean_database: str, redis_url: str, stream_name: str) -> Iterator[Pipeline]:
    clock = TestClock(T0)
    settings = Settings(api_key=ENV_KEY, redis_url=redis_url, stream=stream_name)  # type: ignore[call-arg]
    keys = PostgresIngestKeys(clean_database)
    app = create_app(
        settings, Ingestor(RedisStreamsBus(redis_url, stream_name, 10_000), RegexRedactor()), keys, clock=clock
    )
    reader = RedisStreamsReader(redis_url, stream_name, "writers", "w1")
    reader.ensure_group()
    store = PostgresLogStore(clean_database)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Pipeline(client, clock, reader, RecordWriter(store), clean_database)
    store.close()
    keys.close()


def rows(dsn: str, sql: str) -> list[tuple[object, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql).fetchall()  # type: ignore[arg-type]


def test_the_key_decides_the_project_of_rows_rollups_and_histograms(pipeline: Pipeline) -> None:
    a, b = new_project(pipeline.dsn), new_project(pipeline.dsn)
    key_a, key_b = new_key(pipeline.dsn, a), new_key(pipeline.dsn, b)
    assert pipeline.send(key_a, {"events": [make_event(), make_event()]}) == 202
    assert pipeline.send(key_b, {"events": [make_event()]}) == 202
    assert pipeline.send(ENV_KEY, {"events": [make_event()]}) == 202
    assert sorted(r["project"] for r in pipeline.write()) == sorted([a, a, b, "default"])  # type: ignore[type-var]
    expect = sorted([(a, 2), (b, 1), ("default", 1)])
    assert rows(pipeline.dsn, "SELECT project, count(*) FROM inference_logs GROUP BY 1 ORDER BY 1") == expect
    assert rows(pipeline.dsn, "SELECT project, sum(requests)::int FROM metrics_minute GROUP BY 1 ORDER BY 1") == expect
    for level in ("minute", "hour", "day"):
        counted = rows(
            pipeline.dsn,
            f"SELECT project, sum(c)::int FROM (SELECT project, unnest(n) AS c FROM latency_hist_{level} "  # noqa: S608
            "WHERE metric = 'latency') h GROUP BY 1 ORDER BY 1",
        )
        assert counted == expect, level


def test_a_project_in_the_body_is_never_trusted(pipeline: Pipeline) -> None:
    a, b = new_project(pipeline.dsn), new_project(pipeline.dsn)
    key_a = new_key(pipeline.dsn, a)
    # beside the events: not part of the contract, ignored
    assert pipeline.send(key_a, {"project": b, "events": [make_event()]}) == 202
    # inside an event: the contract has no such field, the event is rejected (nothing is published)
    response = pipeline.client.post(
        "/v1/events", headers={"Authorization": f"Bearer {key_a}"}, json={"events": [make_event(project=b)]}
    )
    assert response.status_code == 422 and "project" in response.text
    # one valid, one claiming another project: only the valid one, in the key's project
    assert pipeline.send(key_a, {"events": [make_event(), make_event(project=b)]}) == 207
    assert [r["project"] for r in pipeline.write()] == [a, a]
    assert rows(pipeline.dsn, "SELECT DISTINCT project FROM inference_logs") == [(a,)]


def test_revoked_expired_unknown_and_read_keys_are_refused(pipeline: Pipeline) -> None:
    a = new_project(pipeline.dsn)
    revoked = new_key(pipeline.dsn, a)
    revoke(pipeline.dsn, revoked)
    expiring = new_key(pipeline.dsn, a, expires_at=T0 + timedelta(minutes=10))
    unknown = new_api_key("ingest").token
    read_token = new_api_key("read").token
    for token in (revoked, unknown, read_token, "prism_ik_garbage", revoked + "x"):
        response = pipeline.client.post(
            "/v1/events", headers={"Authorization": f"Bearer {token}"}, json={"events": [make_event()]}
        )
        assert response.status_code == 401, token
        assert response.json()["error"]["code"] == "unauthorized"
    assert pipeline.send(expiring, {"events": [make_event()]}) == 202
    pipeline.clock.advance(minutes=10)  # expired, though still in the cache
    assert pipeline.send(expiring, {"events": [make_event()]}) == 401
    pipeline.clock.advance(minutes=1)  # and once out of it
    assert pipeline.send(expiring, {"events": [make_event()]}) == 401


def test_a_revoked_key_stops_within_the_cache_lifetime(pipeline: Pipeline) -> None:
    a = new_project(pipeline.dsn)
    key = new_key(pipeline.dsn, a)
    assert pipeline.send(key, {"events": [make_event()]}) == 202
    revoke(pipeline.dsn, key)
    pipeline.clock.advance(seconds=29)
    assert pipeline.send(key, {"events": [make_event()]}) == 202  # cached: still trusted
    pipeline.clock.advance(seconds=2)
    assert pipeline.send(key, {"events": [make_event()]}) == 401  # 31 s after it was found


def test_a_new_key_works_once_its_negative_entry_expires(pipeline: Pipeline) -> None:
    a = new_project(pipeline.dsn)
    key = new_api_key("ingest")
    assert pipeline.send(key.token, {"events": [make_event()]}) == 401  # not yet stored: cached as unknown
    with psycopg.connect(pipeline.dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO api_keys (kind, prefix, secret_hash, name, project_id) "
            "SELECT 'ingest', %s, %s, 'late', id FROM projects WHERE slug = %s",
            (key.prefix, key.secret_hash, a),
        )
    pipeline.clock.advance(seconds=4)
    assert pipeline.send(key.token, {"events": [make_event()]}) == 401
    pipeline.clock.advance(seconds=2)
    assert pipeline.send(key.token, {"events": [make_event()]}) == 202


def test_last_used_is_recorded(pipeline: Pipeline) -> None:
    a = new_project(pipeline.dsn)
    key = new_key(pipeline.dsn, a)
    assert pipeline.send(key, {"events": [make_event()]}) == 202
    pipeline.client.app.state.keys.close()  # type: ignore[attr-defined]  # waits for the background write
    assert rows(pipeline.dsn, f"SELECT last_used_at FROM api_keys WHERE prefix = '{key[:21]}'") == [(T0,)]  # noqa: S608


def test_key_store_down_is_503_for_project_keys_and_env_keys_still_work(redis_url: str, stream_name: str) -> None:
    from tests.support.net import free_port

    settings = Settings(api_key=ENV_KEY, redis_url=redis_url, stream=stream_name)  # type: ignore[call-arg]
    keys = PostgresIngestKeys(f"postgresql://postgres@127.0.0.1:{free_port()}/nothing", timeout=0.5)
    app = create_app(settings, Ingestor(RedisStreamsBus(redis_url, stream_name, 1000), RegexRedactor()), keys)
    with TestClient(app, raise_server_exceptions=False) as client:
        body = {"events": [make_event()]}
        down = client.post("/v1/events", headers={"Authorization": f"Bearer {new_api_key('ingest').token}"}, json=body)
        assert down.status_code == 503 and down.json()["error"]["code"] == "store_unavailable"
        assert client.post("/v1/events", headers={"Authorization": f"Bearer {ENV_KEY}"}, json=body).status_code == 202
        garbage = client.post("/v1/events", headers={"Authorization": "Bearer not-a-key"}, json=body)
        assert garbage.status_code == 401  # refused without asking the store
    keys.close()


def test_register_upserts_the_chat_key_and_keeps_a_revocation(clean_database: str) -> None:
    from prism.keys import ingest_key_for

    keys = PostgresIngestKeys(clean_database)
    try:
        token = ingest_key_for(f"hand-set-{uuid.uuid4().hex}")
        first = keys.register(token, "chat")
        assert first is not None and first.project == "chat"  # app_config.chat_project
        other = new_project(clean_database)
        moved = keys.register(token, "chat", other)
        assert moved is not None and moved.project == other and moved.id == first.id
        assert keys.find(first.prefix) == moved
        assert keys.register(token, "chat", "no-such-project") is None
        revoke(clean_database, token)
        assert keys.register(token, "chat") is None and keys.find(first.prefix) is None
        # a different token that happens to share the prefix takes nothing over
        impostor = token[:22] + "A" * 43
        assert keys.register(impostor, "chat") is None
    finally:
        keys.close()


def test_migration_007_moves_existing_data_to_the_default_project() -> None:
    from prism.adapters.postgres import drop_database, migrate

    from tests.conftest import _db_url

    url = _db_url(f"prism_test_m007_{uuid.uuid4().hex[:8]}")
    clock = TestClock(T0)
    try:
        migrate(url, profile="postgres", until="006", clock=clock)
        at = T0 - timedelta(minutes=5)
        with psycopg.connect(url, autocommit=True) as conn:
            assert conn.execute("SELECT max(key) FROM schema_migrations").fetchone() == ("006_identity",)
            conn.execute(
                "INSERT INTO inference_logs (id, created_at, ts_start, ts_end, latency_ms, provider, model, status,"
                " schema_version) VALUES (%s, %s, %s, %s, 120, 'openai', 'm', 'ok', 1)",
                (uuid.uuid4(), at, at, at),
            )
            conn.execute(
                "INSERT INTO metrics_minute VALUES (%s, 'm', 'openai', 'ok', 1, 0, 120, 120, 0, 0, 0, 0, 0, 0)", (at,)
            )
            conn.execute(
                "INSERT INTO latency_hist_minute VALUES (%s, 'm', 'openai', 'ok', 'latency', '{99}', '{1}')", (at,)
            )
        migrate(url, profile="postgres", clock=clock)
        with psycopg.connect(url) as conn:
            for table in ("inference_logs", "metrics_minute", "latency_hist_minute"):
                assert conn.execute(f"SELECT project FROM {table}").fetchall() == [("default",)], table  # noqa: S608
            # the new series key: the same minute may now hold a row per project
            conn.execute(
                "INSERT INTO metrics_minute (bucket, project, model, provider, status, requests, errors,"
                " latency_ms_sum, latency_ms_max, ttft_ms_sum, ttft_count, prompt_tokens, completion_tokens,"
                " total_tokens, cost_usd)"
                " VALUES (%s, 'other', 'm', 'openai', 'ok', 1, 0, 1, 1, 0, 0, 0, 0, 0, 0)",
                (at,),
            )
    finally:
        drop_database(url)
