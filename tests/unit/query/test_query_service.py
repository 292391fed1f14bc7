"""query/service.py with the in-memory fakes (no database): windowing, step choice, merging."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import anyio
import orjson
import pytest
from prism import histogram
from prism.adapters.memory import MemoryDashboardStore, MemoryQueryStore, MemoryRawPayloadStore
from prism.errors import ConflictError, NotFoundError, ValidationFailedError
from prism.read import Filters, LogQuery
from query.schemas import DashboardIn, DashboardNew
from query.service import DashboardService, QueryService, Window, pick_step, window

NOW = datetime(2026, 11, 27, 10, 0, 30, tzinfo=UTC)  # minute horizon (2 days): 2026-11-25 00:00


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def service(store: MemoryQueryStore | None = None, raw: MemoryRawPayloadStore | None = None) -> QueryService:
    return QueryService(store or MemoryQueryStore(), raw, minute_histogram_days=2, clock=lambda: NOW)


def code_of(exc: pytest.ExceptionInfo[Exception]) -> str:
    assert isinstance(exc.value, ValidationFailedError | NotFoundError | ConflictError)
    return exc.value.code


def p(ms: float) -> float:
    """What a percentile reads for a value: its histogram bucket's value."""
    return histogram.value(histogram.bucket(ms))


# --- windowing ------------------------------------------------------------------------------------


def test_the_default_window_is_the_24_hours_up_to_now_in_whole_minutes() -> None:
    w = window(None, None, clock=lambda: NOW)
    assert (w.start, w.end) == (at("2026-11-26T10:00:00"), at("2026-11-27T10:01:00"))


def test_a_logs_window_is_taken_as_given() -> None:
    w = service().logs_window(at("2026-11-27T09:00:05"), None)
    assert (w.start, w.end) == (at("2026-11-27T09:00:05"), NOW)


@pytest.mark.parametrize(
    ("start", "end", "code"),
    [
        (datetime(2026, 11, 27, 9), None, "invalid_time"),  # no time zone
        (at("1969-12-31T00:00:00"), None, "invalid_time"),
        (at("2026-11-27T09:00:00"), at("2026-11-27T09:00:00"), "invalid_window"),
        (at("2025-01-01T00:00:00"), at("2026-11-27T00:00:00"), "invalid_window"),  # over 400 days
    ],
)
def test_windows_that_cannot_be_answered_are_refused(start: datetime, end: datetime | None, code: str) -> None:
    with pytest.raises(ValidationFailedError) as exc:
        service().window(start, end)
    assert code_of(exc) == code


def test_a_summary_edge_older_than_the_minute_histograms_widens_to_the_whole_hour() -> None:
    svc = service()
    assert svc.minute_horizon() == at("2026-11-25T00:00:00")
    # GIVEN a start before the horizon and an end after it: only the start widens
    w = svc.window(at("2026-11-20T10:30:30"), at("2026-11-26T12:00:10"))
    assert (w.start, w.end) == (at("2026-11-20T10:00:00"), at("2026-11-26T12:01:00"))
    # GIVEN both before it: both widen, the end up to the next hour
    w = svc.window(at("2026-11-20T10:30:30"), at("2026-11-24T10:30:10"))
    assert (w.start, w.end) == (at("2026-11-20T10:00:00"), at("2026-11-24T11:00:00"))


# --- step choice ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("hours", "step"), [(1, 60), (24, 300), (7 * 24, 3600), (30 * 24, 21600), (400 * 24, 86400)])
def test_the_automatic_step_is_the_shortest_giving_at_most_360_points(hours: int, step: int) -> None:
    w = Window(at("2026-01-01T00:00:00"), at("2026-01-01T00:00:00") + timedelta(hours=hours))
    assert pick_step(w, None) == timedelta(seconds=step)


def test_a_window_reaching_before_the_minute_histograms_gets_no_step_under_an_hour() -> None:
    svc = service()
    w, step = svc.series_window(at("2026-11-20T00:00:00"), at("2026-11-20T06:00:00"), None)
    assert step == timedelta(hours=1) and (w.start, w.end) == (at("2026-11-20T00:00:00"), at("2026-11-20T06:00:00"))
    with pytest.raises(ValidationFailedError) as exc:
        svc.series_window(at("2026-11-20T00:00:00"), at("2026-11-20T06:00:00"), 60)
    assert code_of(exc) == "invalid_step"


@pytest.mark.parametrize(("step", "code"), [(120, "invalid_step"), (60, "too_many_points")])
def test_steps_that_are_not_offered_or_give_too_many_points_are_refused(step: int, code: str) -> None:
    with pytest.raises(ValidationFailedError) as exc:
        service().series_window(at("2026-11-25T00:00:00"), at("2026-11-27T10:00:00"), step)
    assert code_of(exc) == code


def test_a_chosen_step_aligns_the_window_to_whole_steps() -> None:
    w, step = service().series_window(at("2026-11-27T08:07:00"), at("2026-11-27T08:53:00"), 900)
    assert step == timedelta(minutes=15) and (w.start, w.end) == (at("2026-11-27T08:00:00"), at("2026-11-27T09:00:00"))


# --- merging --------------------------------------------------------------------------------------


def three_calls() -> MemoryQueryStore:
    store = MemoryQueryStore()
    store.add(at("2026-11-27T08:20:00"), model="a", latency_ms=100.0, ttft_ms=40.0, total_tokens=10, cost_usd=0.5)
    store.add(at("2026-11-27T08:25:00"), model="a", latency_ms=200.0, total_tokens=20, cost_usd=0.25)
    store.add(at("2026-11-27T08:40:00"), model="b", latency_ms=1000.0, status="error")
    return store


def test_a_summary_merges_the_groups_histograms_into_the_total() -> None:
    svc = service(three_calls())
    w = svc.window(at("2026-11-27T08:00:00"), at("2026-11-27T09:00:00"))
    # WHEN summarised per model
    out = anyio.run(svc.summary, w, Filters(), ["model"])
    # THEN the total's percentiles come from every call's bucket, each group's from its own
    total = out.total
    assert (total.requests, total.errors, total.error_rate) == (3, 1, 1 / 3)
    assert total.requests_per_minute == 3 / 60
    assert total.latency_ms.model_dump() == {"avg": 1300 / 3, "p50": p(200), "p90": p(1000), "p95": p(1000),
                                             "p99": p(1000), "max": 1000.0}  # fmt: skip
    assert total.ttft_ms.avg == 40.0 and total.ttft_ms.p99 == p(40)
    assert total.tokens.total == 30 and total.cost_usd == 0.75
    # AND the groups come busiest first, keyed by the group's values
    assert [g.key for g in out.groups] == [{"model": "a"}, {"model": "b"}]
    a, b = out.groups
    assert (a.requests, a.latency_ms.p50, a.latency_ms.max) == (2, p(100), 200.0)
    assert (b.errors, b.latency_ms.p50, b.ttft_ms.p50) == (1, p(1000), None)
    assert out.percentile_relative_error == round(histogram.RELATIVE_ERROR, 4)


def test_a_summary_without_group_by_has_no_groups_and_filters_count() -> None:
    svc = service(three_calls())
    w = svc.window(at("2026-11-27T08:00:00"), at("2026-11-27T09:00:00"))
    out = anyio.run(svc.summary, w, Filters(status=("error",)), [])
    assert out.groups == [] and out.total.requests == 1 and out.total.latency_ms.p50 == p(1000)


def test_an_empty_window_reads_zeros_and_no_percentiles() -> None:
    svc = service()
    out = anyio.run(svc.summary, svc.window(None, None), Filters(), [])
    assert out.total.requests == 0 and out.total.error_rate is None
    assert out.total.latency_ms.p99 is None and out.total.latency_ms.avg is None


def test_a_timeseries_has_every_step_even_without_calls_and_one_series_per_group() -> None:
    svc = service(three_calls())
    w, step = svc.series_window(at("2026-11-27T08:00:00"), at("2026-11-27T09:00:00"), 900)
    # WHEN read as one series
    one = anyio.run(svc.timeseries, w, step, Filters(), [])
    # THEN each quarter hour is a point, counted from the calls in it
    (series,) = one.series
    assert [pt.t for pt in series.points] == [at(f"2026-11-27T08:{m:02}:00") for m in (0, 15, 30, 45)]
    assert [pt.requests for pt in series.points] == [0, 2, 1, 0]
    assert series.points[1].latency_ms.p50 == p(100) and series.points[0].latency_ms.p50 is None
    assert series.points[1].requests_per_minute == 2 / 15 and one.step_seconds == 900
    # WHEN read per model THEN one series each, busiest first
    per = anyio.run(svc.timeseries, w, step, Filters(), ["model"])
    assert [s.key for s in per.series] == [{"model": "a"}, {"model": "b"}]
    assert [pt.requests for pt in per.series[1].points] == [0, 0, 1, 0]


# --- logs -----------------------------------------------------------------------------------------


def test_logs_come_newest_first_a_page_at_a_time() -> None:
    svc = service(three_calls())
    w = svc.logs_window(at("2026-11-27T08:00:00"), at("2026-11-27T09:00:00"))
    first = anyio.run(svc.logs, LogQuery(start=w.start, end=w.end, limit=2))
    assert [r.model for r in first.items] == ["b", "a"] and first.next_cursor
    from prism.cursor import decode_cursor

    after = LogQuery(start=w.start, end=w.end, limit=2, before=decode_cursor(first.next_cursor))
    rest = anyio.run(svc.logs, after)
    assert [r.created_at for r in rest.items] == [at("2026-11-27T08:20:00")] and rest.next_cursor is None


def test_one_log_carries_its_payload_wherever_it_is_kept() -> None:
    store, raw = MemoryQueryStore(), MemoryRawPayloadStore()
    inline = store.add(NOW, raw_payload_jsonb={"request": {"q": 1}, "response": None})
    uri = raw.put("k", orjson.dumps({"request": {"q": 2}, "response": {"a": 3}}))
    offloaded = store.add(NOW, raw_payload_uri=uri)
    lost = store.add(NOW, raw_payload_uri="mem://gone")
    svc = service(store, raw)
    got = [anyio.run(svc.log, row["id"]) for row in (inline, offloaded, lost)]
    assert [g.payload_location for g in got] == ["inline", "object_store", "object_store"]
    assert got[0].payload == {"request": {"q": 1}, "response": None}
    assert got[1].payload == {"request": {"q": 2}, "response": {"a": 3}} and got[1].payload_error is None
    # a payload that cannot be read leaves the row worth showing, saying why
    assert got[2].payload is None and got[2].payload_error and "mem://gone" in got[2].payload_error
    with pytest.raises(NotFoundError) as exc:
        anyio.run(svc.log, UUID(int=999))
    assert code_of(exc) == "log_not_found"


# --- dashboards -----------------------------------------------------------------------------------


def test_dashboards_are_saved_replaced_and_deleted_and_an_unknown_id_is_not_found() -> None:
    dashboards = DashboardService(MemoryDashboardStore())
    made = anyio.run(dashboards.create, DashboardNew(name="first"))
    assert anyio.run(dashboards.get, made.id).name == "first"
    renamed = anyio.run(dashboards.replace, made.id, DashboardIn(name="second"))
    assert renamed.created_at == made.created_at and renamed.updated_at > made.updated_at
    assert [d.name for d in anyio.run(dashboards.list)] == ["second"]
    anyio.run(dashboards.delete, made.id)
    for call in (dashboards.get, dashboards.delete):
        with pytest.raises(NotFoundError) as exc:
            anyio.run(call, made.id)
        assert code_of(exc) == "dashboard_not_found"


def test_a_name_the_owner_already_uses_is_a_conflict_and_another_owner_may_use_it() -> None:
    dashboards = DashboardService(MemoryDashboardStore())
    alice, bob = uuid4(), uuid4()
    made = anyio.run(lambda: dashboards.create(DashboardNew(name="Latency"), owner=alice))
    with pytest.raises(ConflictError) as exc:
        anyio.run(lambda: dashboards.create(DashboardNew(name="LATENCY"), owner=alice))
    assert code_of(exc) == "name_taken"
    other = anyio.run(lambda: dashboards.create(DashboardNew(name="Cost"), owner=alice))
    with pytest.raises(ConflictError):
        anyio.run(dashboards.replace, other.id, DashboardIn(name="latency"))
    assert anyio.run(dashboards.replace, made.id, DashboardIn(name="latency")).name == "latency"
    assert anyio.run(lambda: dashboards.create(DashboardNew(name="Latency"), owner=bob)).name == "Latency"


def test_dashboards_are_listed_per_project_and_names_are_unique_per_project() -> None:
    dashboards = DashboardService(MemoryDashboardStore())
    alice = uuid4()
    prod = anyio.run(lambda: dashboards.create(DashboardNew(name="Latency", project="prod"), owner=alice))
    anyio.run(lambda: dashboards.create(DashboardNew(name="latency"), owner=alice))  # the default project
    with pytest.raises(ConflictError):
        anyio.run(lambda: dashboards.create(DashboardNew(name="LATENCY", project="prod"), owner=alice))
    assert [d.project for d in anyio.run(dashboards.list)] == ["default"]
    assert [d.id for d in anyio.run(dashboards.list, "prod")] == [prod.id]
    assert anyio.run(dashboards.replace, prod.id, DashboardIn(name="Spend")).project == "prod"  # kept
    assert anyio.run(dashboards.list, "staging") == []


def test_dashboards_of_several_projects_are_listed_newest_change_first_and_none_for_no_project() -> None:
    dashboards = DashboardService(MemoryDashboardStore())
    a = anyio.run(lambda: dashboards.create(DashboardNew(name="A", project="prod")))
    b = anyio.run(lambda: dashboards.create(DashboardNew(name="B")))
    anyio.run(lambda: dashboards.create(DashboardNew(name="C", project="staging")))
    anyio.run(dashboards.replace, a.id, DashboardIn(name="A2"))
    assert [(d.name, d.project) for d in anyio.run(dashboards.list_in, ["default", "prod"])] == [
        ("A2", "prod"),
        (b.name, "default"),
    ]
    assert anyio.run(dashboards.list_in, []) == []
