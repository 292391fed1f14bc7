"""Unknown cost is not zero (issue 14 §2), on the memory fake the unit tests use."""

from __future__ import annotations

from datetime import UTC, datetime

import anyio
from prism.adapters.memory import MemoryQueryStore
from prism.read import Filters

from tests.unit.query.test_query_service import service


def test_the_fake_counts_calls_without_a_price_like_the_store() -> None:
    store = MemoryQueryStore()
    t = datetime(2026, 11, 27, 8, 20, tzinfo=UTC)
    store.add(t, model="a", cost_usd=0.5)
    store.add(t, model="b", cost_usd=None)
    store.add(t, model="b", cost_usd=None, status="error")
    svc = service(store)
    w = svc.window(datetime(2026, 11, 27, 8, tzinfo=UTC), datetime(2026, 11, 27, 9, tzinfo=UTC))
    out = anyio.run(svc.summary, w, Filters(), ["model"])
    assert (out.total.cost_usd, out.total.unpriced) == (0.5, 2)
    assert {g.key["model"]: g.unpriced for g in out.groups} == {"a": 0, "b": 2}
