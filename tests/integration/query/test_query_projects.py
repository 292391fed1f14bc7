"""The query API per project (issue 11 §3) over rows of two projects written by the real writer on real
PostgreSQL: ``project`` filters (repeatable) and groups totals, percentiles, timeseries and logs."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prism import histogram
from prism.adapters.postgres import PostgresLogStore
from prism.adapters.postgres_query import PostgresQueryStore
from prism.config import Settings
from prism.identity.service import IdentityService
from prism.records import LogRow, to_row
from query.app import create_app

from tests.support.auth import signed_in

NOW = datetime.now(UTC)
T0 = (NOW - timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
WINDOW = {"from": T0.isoformat(), "to": (T0 + timedelta(hours=2)).isoformat()}
pytestmark = pytest.mark.clock


def row(project: str, created_at: datetime, latency_ms: float) -> LogRow:
    start = created_at - timedelta(milliseconds=latency_ms)
    event = {
        "id": str(uuid.uuid4()),
        "ts_start": start.isoformat(),
        "ts_first_token": (start + timedelta(milliseconds=latency_ms / 4)).isoformat(),
        "ts_end": created_at.isoformat(),
        "provider": "openai",
        "model": "gpt-4o",
        "status": "ok",
        "usage": {"total_tokens": 10},
    }
    return to_row({"created_at": created_at.isoformat(), "project": project, "redactions": {}}, event)


@pytest.fixture
def client(clean_database: str, identity: IdentityService) -> Iterator[TestClient]:
    store = PostgresQueryStore(clean_database)
    app = create_app(Settings(env="test"), store=store, dashboards=store, identity=identity)
    with signed_in(TestClient(app), identity) as c:
        yield c
    store.close()


@pytest.fixture
def made(clean_database: str) -> dict[str, list[float]]:
    """Latencies per project: ``fast`` about 100 ms, ``slow`` about 2 s, ``default`` 500 ms."""
    writer = PostgresLogStore(clean_database, clock=lambda: NOW)
    writer.maintain()
    latencies = {
        "fast": [80.0 + i for i in range(40)],
        "slow": [1800.0 + 10 * i for i in range(25)],
        "default": [500.0] * 5,
    }
    rows = [
        row(project, T0 + timedelta(minutes=17, seconds=37 * i), ms)
        for project, values in latencies.items()
        for i, ms in enumerate(values)
    ]
    writer.write(rows)
    writer.close()
    return latencies


def nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def assert_close(estimate: float | None, exact: float) -> None:
    assert estimate is not None
    assert abs(estimate - exact) <= histogram.RELATIVE_ERROR * exact + 1e-9, (estimate, exact)


def test_summary_grouped_by_project_has_each_project_s_totals_and_percentiles(
    made: dict[str, list[float]], client: TestClient
) -> None:
    resp = client.get("/api/metrics/summary", params={**WINDOW, "group_by": "project"})
    assert resp.status_code == 200, resp.text
    groups = {g["key"]["project"]: g for g in resp.json()["groups"]}
    assert set(groups) == set(made)
    for project, latencies in made.items():
        g = groups[project]
        assert g["requests"] == len(latencies) and g["tokens"]["total"] == 10 * len(latencies)
        for name, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
            assert_close(g["latency_ms"][name], nearest_rank(latencies, q))
            assert_close(g["ttft_ms"][name], nearest_rank([v / 4 for v in latencies], q))


def test_the_project_filter_narrows_totals_histograms_timeseries_and_logs(
    made: dict[str, list[float]], client: TestClient
) -> None:
    def summary(**params: Any) -> dict[str, Any]:
        resp = client.get("/api/metrics/summary", params={**WINDOW, **params})
        assert resp.status_code == 200, resp.text
        return resp.json()["total"]  # type: ignore[no-any-return]

    fast = summary(project="fast")
    assert fast["requests"] == 40
    assert_close(fast["latency_ms"]["p99"], nearest_rank(made["fast"], 0.99))  # the slow ones are not in it
    both = summary(project=["fast", "slow"])
    assert both["requests"] == 65
    assert_close(both["latency_ms"]["p50"], nearest_rank(made["fast"] + made["slow"], 0.5))
    assert summary(project="nobody")["requests"] == 0
    assert summary()["requests"] == 70

    series = client.get("/api/metrics/timeseries", params={**WINDOW, "step": 3600, "group_by": ["project", "model"]})
    assert series.status_code == 200, series.text
    per = {
        (s["key"]["project"], s["key"]["model"]): sum(point["requests"] for point in s["points"])
        for s in series.json()["series"]
    }
    assert per == {("fast", "gpt-4o"): 40, ("slow", "gpt-4o"): 25, ("default", "gpt-4o"): 5}

    logs = client.get("/api/logs", params={**WINDOW, "project": "slow", "limit": 200})
    assert logs.status_code == 200, logs.text
    items = logs.json()["items"]
    assert len(items) == 25 and {i["project"] for i in items} == {"slow"}
    detail = client.get(f"/api/logs/{items[0]['id']}")
    assert detail.status_code == 200 and detail.json()["project"] == "slow"


@pytest.mark.parametrize("value", ["", "x" * 501])
def test_a_bad_project_filter_is_a_422(client: TestClient, value: str) -> None:
    resp = client.get("/api/metrics/summary", params={**WINDOW, "project": value})
    assert resp.status_code == 422 and resp.json()["error"]["code"] in ("invalid_filter", "validation_error")
