"""Input PostgreSQL would refuse is refused at the door, with a reason: GIVEN an event the contract
admits but the database cannot store exactly WHEN it is posted THEN it gets a per-event reason (207 or
422), never a 202 that dead-letters later; what is admitted is stored as sent, times in UTC."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from prism.adapters.memory import MemoryBus
from prism.adapters.postgres_query import PostgresQueryStore
from prism.config import Settings
from prism.identity.service import IdentityService
from prism.write import RecordWriter
from query.app import create_app as create_query_app

from tests.integration.pipeline.conftest import make_event, write_all
from tests.support.auth import signed_in

AUTH = {"Authorization": "Bearer k", "Content-Type": "application/json"}


def post(client: TestClient, *events: Any, raw: bytes | None = None) -> Any:
    body = raw if raw is not None else json.dumps({"events": list(events)}).encode()
    return client.post("/v1/events", headers=AUTH, content=body)


def reasons(resp: Any) -> list[str]:
    body = resp.json()
    rejected = body["error"].get("rejected", []) if "error" in body else body.get("rejected", [])
    return [r for item in rejected for r in item["errors"]]


def test_offsets_are_stored_in_utc_and_impossible_ones_refused(
    pipeline: tuple[TestClient, MemoryBus, RecordWriter], clean_database: str
) -> None:
    client, bus, writer = pipeline
    east = make_event(ts_start="2026-12-01T10:00:00+15:59", ts_end="2026-12-01T10:00:01+15:59")
    west = make_event(ts_start="2026-12-01T10:00:00-15:59", ts_end="2026-12-01T10:00:01-15:59")
    west.pop("ts_first_token", None)
    east.pop("ts_first_token", None)
    beyond = make_event(ts_start="2026-12-01T10:00:00+16:00", ts_end="2026-12-01T10:00:01+16:00")
    resp = post(client, east, west, beyond)
    # THEN the impossible offset is refused by itself, with its reason; the others are accepted
    assert resp.status_code == 207, resp.text
    assert resp.json()["accepted"] == 2
    assert any("UTC offset must be within ±15:59" in r for r in reasons(resp))
    outcome = write_all(bus, writer)
    assert outcome.failed == {} and outcome.written == 2
    with psycopg.connect(clean_database) as conn:
        stored = dict(conn.execute("SELECT id::text, ts_start FROM inference_logs").fetchall())
        payload = conn.execute("SELECT raw_payload_jsonb->>'ts_start' FROM inference_logs WHERE id = %s",
                               (east["id"],)).fetchone()  # fmt: skip
    assert stored[east["id"]] == datetime(2026, 11, 30, 18, 1, tzinfo=UTC)
    assert stored[west["id"]] == datetime(2026, 12, 2, 1, 59, tzinfo=UTC)
    assert payload is not None and payload[0] in (None, "2026-11-30T18:01:00Z")


@pytest.mark.parametrize(
    ("times", "why"),
    [
        (("0001-01-01T00:30:00+01:00", "0001-01-01T00:30:00+01:00"), "outside years 1-9999"),
        (("9999-12-31T23:00:00-05:00", "9999-12-31T23:00:00-05:00"), "outside years 1-9999"),
    ],
)
def test_instants_outside_the_storable_years_are_refused(
    pipeline: tuple[TestClient, MemoryBus, RecordWriter], times: tuple[str, str], why: str
) -> None:
    client, bus, _ = pipeline
    event = make_event(ts_start=times[0], ts_end=times[1])
    event.pop("ts_first_token", None)
    resp = post(client, event)
    assert resp.status_code == 422 and any(why in r for r in reasons(resp)), resp.text
    assert bus.messages == []


def test_numbers_json_cannot_hold_exactly_are_refused_saying_where(
    pipeline: tuple[TestClient, MemoryBus, RecordWriter],
) -> None:
    client, bus, _ = pipeline
    good = make_event(metadata={"n": 2**63 - 1, "m": -(2**63), "f": 1.5e300})
    big = make_event(metadata={"deep": {"list": [1, 2**64]}})
    body = json.dumps({"events": [good, big]}).encode()
    infinite = make_event()
    # 1e400 is valid JSON that no double holds: it would be stored as null
    body_inf = json.dumps({"events": [infinite]}).replace('"metadata": {', '"metadata": {"v": 1e400, ', 1).encode()
    resp = post(client, raw=body)
    assert resp.status_code == 207, resp.text
    assert reasons(resp) == [f"metadata.deep.list[1]: the integer {2**64} is outside the 64-bit range"]
    resp = post(client, raw=body_inf)
    assert resp.status_code in (400, 422), resp.text
    assert "infinity" in resp.text.lower() and "nesting" not in resp.text
    assert len(bus.messages) == 1  # the good event only


@pytest.mark.parametrize("endpoint", ["/api/metrics/summary", "/api/metrics/timeseries", "/api/logs"])
@pytest.mark.parametrize(
    "window",
    [{"to": "9999-12-31T23:59:59.999999Z"}, {"from": "0001-01-01T00:00:00Z", "to": "0001-01-02T00:00:00Z"}],
)
def test_query_windows_out_of_range_are_refused_not_500(
    clean_database: str, endpoint: str, window: dict[str, str], identity: IdentityService
) -> None:
    store = PostgresQueryStore(clean_database)
    app = create_query_app(Settings(env="test"), store=store, dashboards=store, identity=identity)
    with signed_in(TestClient(app), identity, "viewer") as client:
        resp = client.get(endpoint, params=window)
        assert resp.status_code == 422, resp.text
        assert resp.json()["error"]["code"] == "invalid_time"
        assert "must lie between 1970-01-01 and 9000-01-01" in resp.json()["error"]["message"]
        # and the connection is still good for the next request
        assert client.get(endpoint).status_code == 200
    store.close()
