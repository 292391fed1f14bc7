"""Projects on the read side with the in-memory fakes (no database): ``project`` filters and groups
like ``model`` (issue 11 §3)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import anyio
from prism import histogram
from prism.adapters.memory import MemoryQueryStore
from prism.read import Filters, LogQuery
from query.service import QueryService, Window

T0 = datetime(2026, 11, 27, 9, tzinfo=UTC)


def populated() -> tuple[MemoryQueryStore, QueryService]:
    store = MemoryQueryStore()
    for i in range(6):
        store.add(T0 + timedelta(minutes=i), project="a", latency_ms=100.0)
    for i in range(3):
        store.add(T0 + timedelta(minutes=i), project="b", latency_ms=3000.0)
    store.add(T0, latency_ms=500.0)  # written before projects: the default one
    return store, QueryService(store, None, minute_histogram_days=2, clock=lambda: T0 + timedelta(hours=1))


def test_a_summary_grouped_by_project_has_each_project_s_percentiles() -> None:
    _, svc = populated()
    out = anyio.run(svc.summary, Window(T0, T0 + timedelta(hours=1)), Filters(), ["project"])
    groups = {g.key["project"]: g for g in out.groups}
    assert {k: g.requests for k, g in groups.items()} == {"a": 6, "b": 3, "default": 1}
    assert groups["a"].latency_ms.p99 == histogram.value(histogram.bucket(100.0))
    assert groups["b"].latency_ms.p50 == histogram.value(histogram.bucket(3000.0))


def test_the_project_filter_is_any_of() -> None:
    store, svc = populated()
    w = Window(T0, T0 + timedelta(hours=1))
    assert anyio.run(svc.summary, w, Filters(project=("b",)), []).total.requests == 3
    assert anyio.run(svc.summary, w, Filters(project=("a", "b")), []).total.requests == 9
    logs = store.list_logs(LogQuery(T0, T0 + timedelta(hours=1), Filters(project=("b",))))
    assert len(logs) == 3 and {e.project for e in logs} == {"b"}
