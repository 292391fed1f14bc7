"""Unknown cost is not zero (issue 14 §2): the writer counts the calls without a price into
metrics_minute, and the query API's summary and timeseries carry that count next to the cost of
the priced calls. Real writer, real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from prism.adapters.postgres import PostgresLogStore
from prism.adapters.postgres_query import PostgresQueryStore
from prism.config import Settings
from prism.identity.service import IdentityService
from query.app import create_app

from tests.integration.query.test_query_api import NOW, T0, event_row
from tests.support.auth import signed_in

pytestmark = pytest.mark.clock


@pytest.fixture
def writer(clean_database: str) -> Iterator[PostgresLogStore]:
    store = PostgresLogStore(clean_database, clock=lambda: NOW)
    store.maintain()
    yield store
    store.close()


@pytest.fixture
def client(clean_database: str, identity: IdentityService) -> Iterator[TestClient]:
    store = PostgresQueryStore(clean_database)
    app = create_app(Settings(env="test"), store=store, dashboards=store, identity=identity)
    with signed_in(TestClient(app), identity) as c:
        yield c
    store.close()


def test_calls_without_a_price_are_counted_as_unpriced_not_as_free(
    writer: PostgresLogStore, client: TestClient
) -> None:
    # GIVEN a priced model, and a local one LiteLLM has no price for (cost_usd null), in the same minutes
    rows = [event_row(T0 + timedelta(seconds=i * 20), model="gpt-4o") for i in range(4)]
    rows += [event_row(T0 + timedelta(seconds=i * 20 + 5), model="llama3.2", cost_usd=None) for i in range(3)]
    assert writer.write(rows[:5]) == 5
    assert writer.write(rows[5:]) == 2  # merged into the minutes already rolled up
    # WHEN the summary is read per model
    window = {"from": T0.isoformat(), "to": (T0 + timedelta(hours=1)).isoformat()}
    body = client.get("/api/metrics/summary", params={**window, "group_by": "model"}).json()
    # THEN the total says how many calls have no known cost, and so does each model
    assert body["total"]["unpriced"] == 3
    assert body["total"]["cost_usd"] == pytest.approx(0.004)
    groups = {g["key"]["model"]: g for g in body["groups"]}
    assert (groups["llama3.2"]["unpriced"], groups["llama3.2"]["cost_usd"]) == (3, 0.0)
    assert (groups["gpt-4o"]["unpriced"], groups["gpt-4o"]["cost_usd"]) == (0, pytest.approx(0.004))
    # ... and the timeseries' points too
    series = client.get("/api/metrics/timeseries", params={**window, "step": 3600}).json()["series"]
    assert sum(p["unpriced"] for s in series for p in s["points"]) == 3
