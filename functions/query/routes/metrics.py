from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from prism.auth import AUTH_RESPONSES, Viewer

from query.deps import CommonDep, GroupBy, ServiceDep
from query.schemas import Summary, Timeseries

router = APIRouter(tags=["metrics"], responses=AUTH_RESPONSES)


@router.get("/api/metrics/summary")
async def summary(me: Viewer, service: ServiceDep, common: CommonDep, group_by: GroupBy = None) -> Summary:
    """Requests, errors, latency and TTFT (avg, p50/p90/p95/p99, max), tokens and cost over the
    window, in total and per group. Percentiles are within ``percentile_relative_error`` of exact."""
    w = service.window(common.start, common.end)
    return await service.summary(w, common.filters, list(dict.fromkeys(group_by or ())))


@router.get("/api/metrics/timeseries")
async def timeseries(
    me: Viewer,
    service: ServiceDep,
    common: CommonDep,
    group_by: GroupBy = None,
    step: Annotated[int | None, Query(description="Seconds: 60, 300, 900, 3600, 21600 or 86400")] = None,
) -> Timeseries:
    """The same figures per step (auto: at most 360 points), one series per group."""
    w, chosen = service.series_window(common.start, common.end, step)
    return await service.timeseries(w, chosen, common.filters, list(dict.fromkeys(group_by or ())))
