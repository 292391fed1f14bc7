"""The query API over rows written by the real writer path on real PostgreSQL (payloads in moto S3).

Percentiles come from the histogram tables; every one is checked against the exact nearest-rank
percentile of the rows generated, within the stated relative error.
"""

from __future__ import annotations

import asyncio
import math
import random
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import psycopg
import pytest
from fastapi.testclient import TestClient
from prism import histogram
from prism.adapters.postgres import PostgresLogStore, drop_database, migrate
from prism.adapters.postgres_query import PostgresQueryStore
from prism.adapters.s3 import S3RawPayloadStore, s3_client
from prism.config import Settings
from prism.identity.model import Role
from prism.identity.service import IdentityService
from prism.records import LogRow, to_row
from query.app import create_app

from tests.support.auth import Callers, signed_in

# One "now" for the module (the writer's maintenance runs by it). Recent enough to have per-minute
# histograms; windows below start at T0 + 17 min, so they cut hours.
NOW = datetime.now(UTC)
T0 = (NOW - timedelta(hours=7)).replace(minute=0, second=0, microsecond=0)
pytestmark = pytest.mark.clock
MODELS = ("gpt-4o", "claude-sonnet")


def event_row(created_at: datetime, *, model: str = "gpt-4o", latency_ms: float = 100.0, ttft_ms: float | None = 40.0,
              status: str = "ok", uri: str | None = None, **extra: Any) -> LogRow:  # fmt: skip
    start = created_at - timedelta(milliseconds=latency_ms)
    event: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "ts_start": start.isoformat(),
        "ts_end": created_at.isoformat(),
        "provider": "anthropic" if model.startswith("claude") else "openai",
        "model": model,
        "status": status,
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        "cost_usd": 0.001,
        "request": {"messages": [{"role": "user", "content": "hello"}]},
        "response": {"content": "hi there", "finish_reason": "stop"},
        **extra,
    }
    if ttft_ms is not None:
        event["ts_first_token"] = (start + timedelta(milliseconds=ttft_ms)).isoformat()
    record = {"created_at": created_at.isoformat(), "redactions": {}, "raw_payload_uri": uri}
    return to_row(record, event)


@pytest.fixture
def writer(clean_database: str) -> Iterator[PostgresLogStore]:
    store = PostgresLogStore(clean_database, clock=lambda: NOW)
    store.maintain()
    yield store
    store.close()


@pytest.fixture
def client(
    clean_database: str, aws_endpoint: str, s3_bucket_name: str, identity: IdentityService
) -> Iterator[TestClient]:
    store = PostgresQueryStore(clean_database)
    raw = S3RawPayloadStore(s3_bucket_name, client=s3_client(aws_endpoint))
    app = create_app(Settings(env="test"), store=store, dashboards=store, raw_store=raw, identity=identity)
    with signed_in(TestClient(app), identity) as c:
        yield c
    store.close()


@pytest.fixture
def s3_bucket_name(aws_endpoint: str) -> str:
    name = f"prism-query-{uuid.uuid4().hex[:8]}"
    s3_client(aws_endpoint).create_bucket(Bucket=name)
    return name


def nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def assert_close(estimate: float | None, exact: float) -> None:
    assert estimate is not None
    assert abs(estimate - exact) <= histogram.RELATIVE_ERROR * exact + 1e-9, (estimate, exact)


def test_the_sql_bucket_function_is_the_python_one(database_url: str) -> None:
    rng = random.Random(7)
    values = [0.0, -5.0, 1e-12, 1e15, 1.0, 1.05, 1.05**2, 1.05**-3, 0.5, 100.0, 1000.0]
    values += [rng.lognormvariate(5, 2) for _ in range(2000)]
    with psycopg.connect(database_url) as conn:
        got = conn.execute("SELECT array_agg(prism_hist_bucket(v) ORDER BY i) FROM unnest(%s::float8[]) "
                           "WITH ORDINALITY AS u(v, i)", (values,)).fetchone()[0]  # fmt: skip
    assert got == [histogram.bucket(v) for v in values]


def test_the_writer_counts_each_new_row_once_into_the_histograms(writer: PostgresLogStore, clean_database: str) -> None:
    rows = [event_row(T0 + timedelta(seconds=i * 7), latency_ms=50 + i, ttft_ms=None if i % 3 else 20.0)
            for i in range(100)]  # fmt: skip
    assert writer.write(rows[::2]) == 50
    assert writer.write(rows[1::2]) == 50  # the same minutes again: merged into the rows already there
    assert writer.write(rows[:40]) == 0  # re-delivered: nothing counted again
    with psycopg.connect(clean_database) as conn:
        for table in ("latency_hist_minute", "latency_hist_hour", "latency_hist_day"):
            counts = dict(conn.execute(f"SELECT metric, sum(c) FROM {table}, unnest(n) c GROUP BY 1").fetchall())  # noqa: S608
            assert counts == {"latency": 100, "ttft": 34}, table
        rows_by_minute = conn.execute(
            "SELECT idx, n FROM latency_hist_minute WHERE metric = 'latency' ORDER BY bucket"
        ).fetchall()
        assert len(rows_by_minute) == 12  # 100 rows 7 s apart: one histogram row per minute
        for idx, n in rows_by_minute:
            assert idx == sorted(set(idx)) and len(idx) == len(n) and all(c > 0 for c in n)
        expected = Counter(histogram.bucket(r.latency_ms) for r in rows)
        merged = Counter()
        for idx, n in rows_by_minute:
            merged.update(dict(zip(idx, n, strict=True)))
        assert merged == expected


def _populate(writer: PostgresLogStore) -> dict[str, list[tuple[datetime, float, float | None, str]]]:
    """Three hours of traffic, two models with different latency profiles, some errors."""
    rng = random.Random(42)
    made: dict[str, list[tuple[datetime, float, float | None, str]]] = {m: [] for m in MODELS}
    rows = []
    for i in range(3 * 3600 // 6):
        at = T0 + timedelta(seconds=i * 6, milliseconds=rng.randint(0, 999))
        for model, mu in (("gpt-4o", 6.0), ("claude-sonnet", 7.0)):
            latency = rng.lognormvariate(mu, 0.6)
            ttft = latency * rng.uniform(0.05, 0.4) if rng.random() > 0.1 else None
            status = "error" if rng.random() < 0.03 else "ok"
            rows.append(event_row(at, model=model, latency_ms=latency, ttft_ms=ttft, status=status))
            made[model].append((at, rows[-1].latency_ms, rows[-1].ttft_ms, status))
    for start in range(0, len(rows), 500):
        writer.write(rows[start : start + 500])
    return made


def test_summary_percentiles_match_the_exact_ones_within_the_stated_error(
    writer: PostgresLogStore, client: TestClient
) -> None:
    made = _populate(writer)
    start, end = T0 + timedelta(minutes=17), T0 + timedelta(hours=2, minutes=41)  # hours and edge minutes
    resp = client.get("/api/metrics/summary", params={"from": start.isoformat(), "to": end.isoformat(),
                                                       "group_by": "model"})  # fmt: skip
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["percentile_relative_error"] == pytest.approx(histogram.RELATIVE_ERROR, abs=1e-4)
    inside = {m: [r for r in rs if start <= r[0] < end] for m, rs in made.items()}
    groups = {g["key"]["model"]: g for g in body["groups"]}
    for model, rs in inside.items():
        g = groups[model]
        assert g["requests"] == len(rs)
        assert g["errors"] == sum(1 for r in rs if r[3] == "error")
        assert g["tokens"]["total"] == 15 * len(rs)
        assert g["cost_usd"] == pytest.approx(0.001 * len(rs))
        latencies = [r[1] for r in rs]
        ttfts = [r[2] for r in rs if r[2] is not None]
        for name, q in (("p50", 0.5), ("p90", 0.9), ("p95", 0.95), ("p99", 0.99)):
            assert_close(g["latency_ms"][name], nearest_rank(latencies, q))
            assert_close(g["ttft_ms"][name], nearest_rank(ttfts, q))
        assert g["latency_ms"]["max"] == pytest.approx(max(latencies))
        assert g["latency_ms"]["avg"] == pytest.approx(sum(latencies) / len(latencies))
    everything = [r[1] for rs in inside.values() for r in rs]
    assert body["total"]["requests"] == len(everything)
    assert_close(body["total"]["latency_ms"]["p95"], nearest_rank(everything, 0.95))
    # filters narrow both the totals and the histograms
    only = client.get("/api/metrics/summary", params={"from": start.isoformat(), "to": end.isoformat(),
                                                      "model": "claude-sonnet", "status": "ok"}).json()  # fmt: skip
    ok_claude = [r[1] for r in inside["claude-sonnet"] if r[3] == "ok"]
    assert only["total"]["requests"] == len(ok_claude) and only["total"]["errors"] == 0
    assert_close(only["total"]["latency_ms"]["p99"], nearest_rank(ok_claude, 0.99))


def test_timeseries_points_add_up_and_carry_their_own_percentiles(writer: PostgresLogStore, client: TestClient) -> None:
    made = _populate(writer)
    start, end = T0, T0 + timedelta(hours=3)
    for step in (3600, 900, 60):
        resp = client.get("/api/metrics/timeseries", params={"from": start.isoformat(), "to": end.isoformat(),
                                                             "step": step, "group_by": ["model"]})  # fmt: skip
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["step_seconds"] == step
        series = {s["key"]["model"]: s["points"] for s in body["series"]}
        for model, rs in made.items():
            points = series[model]
            assert len(points) == 3 * 3600 // step
            assert sum(p["requests"] for p in points) == len(rs)
            first = datetime.fromisoformat(points[1]["t"])
            in_point = [r[1] for r in rs if first <= r[0] < first + timedelta(seconds=step)]
            assert points[1]["requests"] == len(in_point)
            assert_close(points[1]["latency_ms"]["p95"], nearest_rank(in_point, 0.95))
    auto = client.get("/api/metrics/timeseries", params={"from": start.isoformat(), "to": end.isoformat()}).json()
    assert auto["step_seconds"] == 60 and len(auto["series"][0]["points"]) == 180
    empty = client.get("/api/metrics/timeseries", params={"from": "2026-01-01T00:00:00Z", "to": "2026-01-01T01:00:00Z"})
    assert empty.status_code == 200
    (quiet,) = empty.json()["series"]  # ungrouped: one series, every step present, nothing in it
    assert len(quiet["points"]) == 1 and quiet["points"][0]["requests"] == 0
    assert quiet["points"][0]["latency_ms"]["p95"] is None
    old_hour = {"from": "2026-01-01T00:00:00Z", "to": "2026-01-01T01:00:00Z"}
    grouped = client.get("/api/metrics/timeseries", params={**old_hour, "group_by": "model"})
    assert grouped.json()["series"] == []  # grouped: no group had anything


def test_logs_page_newest_first_by_keyset_and_filter(writer: PostgresLogStore, client: TestClient) -> None:
    rows = [
        event_row(
            T0 + timedelta(seconds=i // 3),
            model=MODELS[i % 2],
            conversation_id="conv-1" if i < 5 else None,
            tags=["beta"] if i % 4 == 0 else [],
            status="error" if i % 5 == 0 else "ok",
        )
        for i in range(40)
    ]  # fmt: skip  (three rows share each created_at second: ties broken by id)
    writer.write(rows)
    window = {"from": T0.isoformat(), "to": (T0 + timedelta(hours=1)).isoformat()}
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {**window, "limit": 7, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/logs", params=params).json()
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 40 and len({r["id"] for r in seen}) == 40
    order = [(r["created_at"], r["id"]) for r in seen]
    assert order == sorted(order, reverse=True)
    assert "messages" not in seen[0] and "payload" not in seen[0]  # the list is light

    def ids(**params: Any) -> set[str]:
        return {r["id"] for r in client.get("/api/logs", params={**window, "limit": 200, **params}).json()["items"]}

    assert ids(conversation_id="conv-1") == {r.id for r in rows[:5]}
    assert ids(tag="beta") == {r.id for i, r in enumerate(rows) if i % 4 == 0}
    assert ids(status="error", model="gpt-4o") == {r.id for i, r in enumerate(rows) if i % 5 == 0 and i % 2 == 0}


def test_the_detail_view_returns_the_payload_inline_or_from_the_object_store(
    writer: PostgresLogStore, client: TestClient, aws_endpoint: str, s3_bucket_name: str
) -> None:
    inline = event_row(T0, tool_invocations=[{"name": "search", "arguments": {"q": "x"}, "status": "ok"}])
    raw = S3RawPayloadStore(s3_bucket_name, client=s3_client(aws_endpoint))
    offloaded_event = {
        "request": {"messages": [{"role": "user", "content": "big " * 1000}]},
        "response": {"content": "ok"},
    }
    uri = raw.put(f"{uuid.uuid4()}.json", orjson.dumps(offloaded_event))
    offloaded = event_row(T0, uri=uri)
    missing = event_row(T0, uri=f"s3://{s3_bucket_name}/raw/not-there.json")
    writer.write([inline, offloaded, missing])

    body = client.get(f"/api/logs/{inline.id}").json()
    assert body["payload_location"] == "inline"
    assert body["payload"]["request"]["messages"][0]["content"] == "hello"
    assert [t["name"] for t in body["tools"]] == ["search"] and body["tools"][0]["arguments"] == {"q": "x"}
    assert "raw_payload_jsonb" not in body and "raw_payload_uri" not in body

    body = client.get(f"/api/logs/{offloaded.id}").json()
    assert body["payload_location"] == "object_store"
    assert body["payload"]["request"] == offloaded_event["request"]

    resp = client.get(f"/api/logs/{missing.id}")  # the row is still shown, with what went wrong
    assert resp.status_code == 200 and resp.json()["payload"] is None and resp.json()["payload_error"]


@pytest.mark.parametrize(
    ("path", "params", "status", "code"),
    [
        ("/api/logs/not-a-uuid", {}, 422, "validation_error"),
        (f"/api/logs/{uuid.uuid4()}", {}, 404, "log_not_found"),
        ("/api/logs", {"cursor": "garbage!"}, 422, "invalid_cursor"),
        ("/api/logs", {"limit": 0}, 422, "validation_error"),
        ("/api/logs", {"limit": 201}, 422, "validation_error"),
        ("/api/logs", {"from": "2026-11-20T10:00:00"}, 422, "invalid_time"),
        ("/api/logs", {"from": "yesterday"}, 422, "validation_error"),
        ("/api/logs", {"model": "a\x00b"}, 422, "invalid_value"),
        ("/api/metrics/summary", {"from": "2026-11-20T10:00:00Z", "to": "2026-11-20T09:00:00Z"}, 422, "invalid_window"),
        ("/api/metrics/summary", {"from": "2020-01-01T00:00:00Z", "to": "2026-11-20T09:00:00Z"}, 422, "invalid_window"),
        ("/api/metrics/summary", {"group_by": "user_id"}, 422, "validation_error"),
        ("/api/metrics/summary", {"status": "weird"}, 422, "validation_error"),
        ("/api/metrics/timeseries", {"step": 7}, 422, "invalid_step"),
        ("/api/metrics/timeseries", {"step": 3600, "from": "2025-11-01T00:00:00Z", "to": "2026-11-01T00:00:00Z"},
         422, "too_many_points"),
        ("/api/metrics/timeseries", {"step": 60, "from": "2026-01-01T00:00:00Z", "to": "2026-01-01T01:00:00Z"},
         422, "invalid_step"),
    ],
)  # fmt: skip
def test_bad_requests_get_a_4xx_with_a_json_error(client: TestClient, path: str, params: dict[str, Any], status: int,
                                                 code: str) -> None:  # fmt: skip
    resp = client.get(path, params=params)
    assert resp.status_code == status, resp.text
    assert resp.json()["error"]["code"] == code


def test_a_database_that_is_down_is_a_503_not_a_500(aws_endpoint: str, identity: IdentityService) -> None:
    store = PostgresQueryStore("postgresql://postgres@127.0.0.1:1/prism", timeout=1)
    app = create_app(
        Settings(env="test"),
        store=store,
        dashboards=store,
        raw_store=S3RawPayloadStore("x", client=s3_client(aws_endpoint)),
        identity=identity,  # the read side's store is down, not the sign-in's
    )
    with signed_in(TestClient(app), identity, "viewer") as c:
        for path in ("/api/metrics/summary", "/api/logs", f"/api/logs/{uuid.uuid4()}"):
            resp = c.get(path)
            assert resp.status_code == 503 and resp.json()["error"]["code"] == "store_unavailable", resp.text
    store.close()


PANEL = {"title": "p95 by model", "kind": "timeseries", "figures": ["latency_ms.p95", "ttft_ms.p95"],
         "group_by": ["model"], "filters": {"status": ["ok"]}, "step_seconds": 3600}  # fmt: skip


def test_dashboards_are_saved_listed_replaced_and_deleted(client: TestClient, clean_database: str) -> None:
    with psycopg.connect(clean_database, autocommit=True) as conn:
        conn.execute("TRUNCATE dashboards")
    made = client.post("/api/dashboards", json={"name": "Latency", "spec": {"window": "7d", "panels": [PANEL]}})
    assert made.status_code == 201, made.text
    d = made.json()
    assert d["spec"]["window"] == "7d" and d["spec"]["panels"][0]["figures"] == ["latency_ms.p95", "ttft_ms.p95"]
    other = client.post("/api/dashboards", json={"name": "Cost"}).json()
    assert other["spec"] == {"window": "24h", "panels": []}
    assert [x["name"] for x in client.get("/api/dashboards").json()] == ["Cost", "Latency"]

    renamed = client.put(f"/api/dashboards/{d['id']}", json={"name": "Latency (ok only)", "spec": {"panels": []}})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Latency (ok only)"
    assert client.get(f"/api/dashboards/{d['id']}").json()["spec"]["panels"] == []
    assert client.get("/api/dashboards").json()[0]["name"] == "Latency (ok only)"  # newest change first

    assert client.delete(f"/api/dashboards/{d['id']}").status_code == 204
    for method in ("get", "delete"):
        resp = getattr(client, method)(f"/api/dashboards/{d['id']}")
        assert resp.status_code == 404 and resp.json()["error"]["code"] == "dashboard_not_found"
    resp = client.put(f"/api/dashboards/{uuid.uuid4()}", json={"name": "x"})
    assert resp.status_code == 404


def test_dashboard_names_are_unique_per_owner_whatever_their_case(
    client: TestClient, clean_database: str, identity: IdentityService
) -> None:
    with psycopg.connect(clean_database, autocommit=True) as conn:
        conn.execute("TRUNCATE dashboards")
    first = client.post("/api/dashboards", json={"name": "Latency"}).json()
    for name in ("Latency", "latency"):
        resp = client.post("/api/dashboards", json={"name": name})
        assert resp.status_code == 409 and resp.json()["error"]["code"] == "name_taken", resp.text
    second = client.post("/api/dashboards", json={"name": "Cost"}).json()
    resp = client.put(f"/api/dashboards/{second['id']}", json={"name": "LATENCY"})  # a rename onto a taken name
    assert resp.status_code == 409 and resp.json()["error"]["code"] == "name_taken"
    assert client.put(f"/api/dashboards/{first['id']}", json={"name": "latency"}).status_code == 200  # its own name
    assert sorted(d["name"] for d in client.get("/api/dashboards").json()) == ["Cost", "latency"]
    # Another user may use the same name.
    with signed_in(TestClient(client.app), identity, Role.member) as other:
        assert other.post("/api/dashboards", json={"name": "Latency"}).status_code == 201


def test_the_names_migration_tells_apart_names_already_taken_twice() -> None:
    with migrated_until("010") as (url, rest), psycopg.connect(url, autocommit=True) as conn:
        for i, name in enumerate(("Latency", "latency", "LATENCY", "Cost")):
            conn.execute("INSERT INTO dashboards (id, name, spec, created_at) VALUES (%s, %s, '{}', %s)",
                         (uuid.uuid4(), name, T0 + timedelta(minutes=i)))  # fmt: skip
        rest()
        names = [r[0] for r in conn.execute("SELECT name FROM dashboards ORDER BY created_at")]
        assert names == ["Latency", "latency (2)", "LATENCY (3)", "Cost"]
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute("INSERT INTO dashboards (id, name, spec) VALUES (%s, 'cost', '{}')", (uuid.uuid4(),))


def make_projects(identity: IdentityService, *slugs: str) -> None:
    admin = Callers(identity)._admin_principal()
    known = {p.slug for p in asyncio.run(identity.list_projects())}
    for slug in set(slugs) - known:
        asyncio.run(identity.create_project(admin, slug, slug.upper()))


def test_dashboards_are_listed_per_project(client: TestClient, clean_database: str, identity: IdentityService) -> None:
    with psycopg.connect(clean_database, autocommit=True) as conn:
        conn.execute("TRUNCATE dashboards")
    make_projects(identity, "prod")
    a = client.post("/api/dashboards", json={"name": "Latency"}).json()
    assert a["project"] == "default"
    b = client.post("/api/dashboards", json={"name": "Cost", "project": "prod"}).json()
    assert b["project"] == "prod"
    assert [d["name"] for d in client.get("/api/dashboards").json()] == ["Latency"]
    assert [d["name"] for d in client.get("/api/dashboards?project=default").json()] == ["Latency"]
    assert [d["name"] for d in client.get("/api/dashboards?project=prod").json()] == ["Cost"]
    assert client.get("/api/dashboards?project=staging").json() == []
    # Another project's dashboard is still readable by id, and a replace keeps its project.
    assert client.get(f"/api/dashboards/{b['id']}").json()["project"] == "prod"
    assert client.put(f"/api/dashboards/{b['id']}", json={"name": "Spend"}).json()["project"] == "prod"
    assert [d["name"] for d in client.get("/api/dashboards?project=prod").json()] == ["Spend"]
    for bad in ("", "Prod", "a b", "x" * 64):
        resp = client.get("/api/dashboards", params={"project": bad})
        assert resp.status_code == 422 and "error" in resp.json(), bad
        resp = client.post("/api/dashboards", json={"name": "x", "project": bad})
        assert resp.status_code == 422 and "error" in resp.json(), bad
    # A replace does not move a dashboard: the project is not part of its body.
    resp = client.put(f"/api/dashboards/{a['id']}", json={"name": "Latency", "project": "prod"})
    assert resp.status_code == 422
    # A dashboard goes in a project that exists.
    resp = client.post("/api/dashboards", json={"name": "x", "project": "never-a-project"})
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "unknown_project", resp.text
    assert "never-a-project" in resp.json()["error"]["message"]
    assert client.get("/api/dashboards?project=never-a-project").json() == []


def test_every_project_lists_the_dashboards_of_each_project_the_caller_may_read(
    client: TestClient, clean_database: str, identity: IdentityService
) -> None:
    # GIVEN two projects the identity API lists, one it no longer lists, and a slug never made one
    with psycopg.connect(clean_database, autocommit=True) as conn:
        conn.execute("TRUNCATE dashboards")
    callers = Callers(identity)
    admin = callers._admin_principal()
    prod, gone = (f"p-{uuid.uuid4().hex[:10]}" for _ in range(2))
    for slug in (prod, gone):
        asyncio.run(identity.create_project(admin, slug, slug.upper()))
    made = {}
    for name, project in (("Latency", "default"), ("Cost", prod), ("Old", gone)):
        resp = client.post("/api/dashboards", json={"name": name, "project": project})
        assert resp.status_code == 201, resp.text
        made[name] = resp.json()
    stray = uuid.uuid4()  # saved before creating checked the project (the API refuses it now)
    with psycopg.connect(clean_database, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO dashboards (id, name, spec, project) VALUES (%s, 'Stray', '{}', 'never-a-project')", (stray,)
        )
    made["Stray"] = {"id": str(stray)}
    asyncio.run(identity.delete_project(admin, gone))

    # WHEN every project is asked for, by a viewer's session and by a viewer's read token
    with signed_in(TestClient(client.app), identity, Role.viewer) as viewer:
        listed = viewer.get("/api/dashboards", params={"project": "*"})
    with callers.read_token(Role.viewer).on(TestClient(client.app)) as token:
        by_token = token.get("/api/dashboards?project=*")

    # THEN each readable project's dashboards, newest change first, each naming its project;
    # a project the caller cannot see (deleted, or never one) is not listed
    assert listed.status_code == 200, listed.text
    assert [(d["name"], d["project"]) for d in listed.json()] == [("Cost", prod), ("Latency", "default")]
    assert by_token.status_code == 200 and by_token.json() == listed.json()
    # One project's list is as before, whatever the slug (another project's is still readable by id).
    assert [d["name"] for d in client.get("/api/dashboards").json()] == ["Latency"]
    assert [d["name"] for d in client.get("/api/dashboards", params={"project": gone}).json()] == ["Old"]
    assert client.get(f"/api/dashboards/{made['Stray']['id']}").status_code == 200
    for bad in ("**", "*a", "a*"):
        resp = client.get("/api/dashboards", params={"project": bad})
        assert resp.status_code == 422 and "error" in resp.json(), bad
    # Creating needs a project named: "*" is not one.
    resp = client.post("/api/dashboards", json={"name": "x", "project": "*"})
    assert resp.status_code == 422 and "error" in resp.json()


def test_dashboard_names_are_unique_per_project(
    client: TestClient, clean_database: str, identity: IdentityService
) -> None:
    with psycopg.connect(clean_database, autocommit=True) as conn:
        conn.execute("TRUNCATE dashboards")
    make_projects(identity, "prod", "staging")
    assert client.post("/api/dashboards", json={"name": "Latency", "project": "prod"}).status_code == 201
    assert client.post("/api/dashboards", json={"name": "latency", "project": "staging"}).status_code == 201
    assert client.post("/api/dashboards", json={"name": "Latency"}).status_code == 201  # the default project
    resp = client.post("/api/dashboards", json={"name": "LATENCY", "project": "prod"})
    assert resp.status_code == 409 and resp.json()["error"]["code"] == "name_taken"
    cost = client.post("/api/dashboards", json={"name": "Cost", "project": "prod"}).json()
    resp = client.put(f"/api/dashboards/{cost['id']}", json={"name": "latency"})  # a rename onto a taken name
    assert resp.status_code == 409 and resp.json()["error"]["code"] == "name_taken"


def test_the_project_migration_keeps_existing_dashboards_in_default() -> None:
    with migrated_until("011") as (url, rest), psycopg.connect(url, autocommit=True) as conn:
        ids = [uuid.uuid4(), uuid.uuid4()]
        for i, name in zip(ids, ("Latency", "Cost"), strict=True):
            conn.execute("INSERT INTO dashboards (id, name, spec) VALUES (%s, %s, '{}')", (i, name))
        rest()
        rows = conn.execute("SELECT id, project FROM dashboards ORDER BY name").fetchall()
        assert rows == [(ids[1], "default"), (ids[0], "default")]
        conn.execute("INSERT INTO dashboards (id, name, spec, project) VALUES (%s, 'latency', '{}', 'prod')",
                     (uuid.uuid4(),))  # fmt: skip
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute("INSERT INTO dashboards (id, name, spec) VALUES (%s, 'LATENCY', '{}')", (uuid.uuid4(),))


@contextmanager
def migrated_until(key: str) -> Iterator[tuple[str, Callable[[], None]]]:
    """A new database migrated up to ``key``, and the call applying the rest; dropped after."""
    from tests.conftest import _db_url
    from tests.support.profile import TEST_PROFILE

    url = _db_url(f"prism_test_dash_{uuid.uuid4().hex[:8]}")

    def rest() -> None:
        migrate(url, profile=TEST_PROFILE)

    try:
        migrate(url, profile=TEST_PROFILE, until=key)
        yield url, rest
    finally:
        drop_database(url)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": "x" * 201},
        {"name": "a\x00b"},
        {"name": "x", "spec": {"window": "2y"}},
        {"name": "x", "spec": {"panels": [{**PANEL, "figures": []}]}},
        {"name": "x", "spec": {"panels": [{**PANEL, "figures": ["latency_ms.p42"]}]}},
        {"name": "x", "spec": {"panels": [{**PANEL, "kind": "pie"}]}},
        {"name": "x", "spec": {"panels": [{**PANEL, "group_by": ["user_id"]}]}},
        {"name": "x", "spec": {"panels": [{**PANEL, "step_seconds": 7}]}},
        {"name": "x", "spec": {"panels": [PANEL] * 25}},
        {"name": "x", "spec": {"panels": [{**PANEL, "extra": 1}]}},
        {"name": "x", "unknown": True},
    ],
)
def test_bad_dashboards_get_a_422_naming_the_problem(client: TestClient, body: dict[str, Any]) -> None:
    resp = client.post("/api/dashboards", json=body)
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"]["code"] == "validation_error" and resp.json()["error"]["message"]


def test_an_oversized_dashboard_is_a_413(client: TestClient) -> None:
    from query.app import MAX_BODY_BYTES

    resp = client.post("/api/dashboards", content=b"{" + b" " * MAX_BODY_BYTES + b"}",
                       headers={"content-type": "application/json"})  # fmt: skip
    assert resp.status_code == 413 and resp.json()["error"]["code"] == "payload_too_large"


def test_windows_older_than_the_minute_histograms_resolve_to_whole_hours(
    writer: PostgresLogStore, client: TestClient, clean_database: str
) -> None:
    old = (NOW - timedelta(days=4)).replace(minute=0, second=0, microsecond=0)
    rows = [event_row(old + timedelta(minutes=i), latency_ms=100 + i) for i in range(240)]  # 4 hours
    writer.write(rows)
    writer.maintain()  # today: the per-minute histograms of 4 days ago go, the per-hour ones stay
    with psycopg.connect(clean_database) as conn:
        assert conn.execute("SELECT count(*) FROM latency_hist_minute WHERE bucket < %s", (old + timedelta(hours=5),)
                            ).fetchone() == (0,)  # fmt: skip
        assert conn.execute("SELECT sum(c) FROM latency_hist_hour, unnest(n) c WHERE metric = 'latency'"
                            ).fetchone() == (240,)  # fmt: skip
    start, end = old + timedelta(minutes=17), old + timedelta(hours=2, minutes=41)
    body = client.get("/api/metrics/summary", params={"from": start.isoformat(), "to": end.isoformat()}).json()
    assert (datetime.fromisoformat(body["from"]), datetime.fromisoformat(body["to"])) == (old, old + timedelta(hours=3))
    in_hours = [r.latency_ms for r in rows if old <= r.created_at < old + timedelta(hours=3)]
    assert body["total"]["requests"] == len(in_hours) == 180  # totals and percentiles over the same hours
    assert_close(body["total"]["latency_ms"]["p95"], nearest_rank(in_hours, 0.95))
    params = {"from": old.isoformat(), "to": (old + timedelta(hours=4)).isoformat()}
    resp = client.get("/api/metrics/timeseries", params={**params, "step": 60})
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "invalid_step"
    auto = client.get("/api/metrics/timeseries", params=params).json()
    assert auto["step_seconds"] == 3600 and [p["requests"] for p in auto["series"][0]["points"]] == [60, 60, 60, 60]


def test_a_window_over_days_merges_days_hours_and_minutes_exactly(writer: PostgresLogStore, client: TestClient) -> None:
    base = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=2)
    rng = random.Random(5)
    rows = [
        event_row(
            base + timedelta(minutes=5 * i - 6 * 60, seconds=rng.randint(0, 299)),
            latency_ms=rng.lognormvariate(6, 0.8),
            ttft_ms=None,
        )
        for i in range(12 * 36)
    ]  # fmt: skip  (from 6 h before `base` to 30 h after)
    for start in range(0, len(rows), 100):
        writer.write(rows[start : start + 100])
    start, end = base - timedelta(hours=5, minutes=43), base + timedelta(days=1, hours=5, minutes=19)
    body = client.get("/api/metrics/summary", params={"from": start.isoformat(), "to": end.isoformat()}).json()
    # the start is older than the per-minute histograms: widened to its hour; the end is not
    assert datetime.fromisoformat(body["from"]) == base - timedelta(hours=6)
    assert datetime.fromisoformat(body["to"]) == end
    inside = [r.latency_ms for r in rows if base - timedelta(hours=6) <= r.created_at < end]
    assert body["total"]["requests"] == len(inside)
    for name, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
        assert_close(body["total"]["latency_ms"][name], nearest_rank(inside, q))
    daily = client.get("/api/metrics/timeseries", params={"from": base.isoformat(),
                                                          "to": (base + timedelta(days=1)).isoformat(),
                                                          "step": 86400}).json()  # fmt: skip
    (point,) = daily["series"][0]["points"]
    one_day = [r.latency_ms for r in rows if base <= r.created_at < base + timedelta(days=1)]
    assert point["requests"] == len(one_day) == 288
    assert_close(point["latency_ms"]["p95"], nearest_rank(one_day, 0.95))
