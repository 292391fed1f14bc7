"""The read side: metrics (summary and timeseries) from the rollups, and the logs explorer.

Percentiles are read from merged histograms (``prism.histogram``): each one is within
``RELATIVE_ERROR`` (2.44 %) of the exact nearest-rank percentile of the rows in the window, at a
cost that depends on the window's length, not on its number of rows.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from prism import histogram
from prism.clock import Clock, utc_now, utc_today
from prism.cursor import encode_cursor
from prism.errors import NotFoundError, PrismError, ValidationFailedError
from prism.histogram import QUANTILES, align_down
from prism.payloads import load_payload
from prism.ports import RawPayloadStore
from prism.read import Dashboard, DashboardStore, Filters, HistogramCounts, LogQuery, QueryStore, Totals
from starlette.concurrency import run_in_threadpool

from query.schemas import (
    DashboardIn,
    DashboardNew,
    DashboardOut,
    DashboardSpec,
    Figures,
    GroupFigures,
    GroupKey,
    GroupKeyValues,
    LogDetail,
    LogItem,
    LogsPage,
    PayloadLocation,
    Point,
    Series,
    Summary,
    Timeseries,
)

STEPS = (60, 300, 900, 3600, 6 * 3600, 86400)  # seconds
MAX_POINTS = 2000
AUTO_POINTS = 360
MAX_WINDOW = timedelta(days=400)
EARLIEST, LATEST = datetime(1970, 1, 1, tzinfo=UTC), datetime(9000, 1, 1, tzinfo=UTC)  # what windows may name
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    @property
    def minutes(self) -> float:
        return (self.end - self.start) / MINUTE


def _ceil(t: datetime, step: timedelta) -> datetime:
    floored = align_down(t, step)
    return floored if floored == t else floored + step


def window(
    start: datetime | None, end: datetime | None, step: timedelta | None = MINUTE, *, clock: Clock = utc_now
) -> Window:
    """[start, end) in whole ``step``s (None: as given; default: the 24 hours up to ``clock``). Both
    must carry a time zone."""
    for name, t in (("from", start), ("to", end)):
        if t is not None and t.tzinfo is None:
            raise ValidationFailedError(f"'{name}' needs a time zone (e.g. 2026-11-27T10:00:00Z)", code="invalid_time")
        if t is not None and not EARLIEST <= t <= LATEST:
            raise ValidationFailedError(
                f"'{name}' must lie between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}", code="invalid_time"
            )
    end = end or clock()
    start = start or end - timedelta(hours=24)
    if start >= end:
        raise ValidationFailedError("'from' must be before 'to'", code="invalid_window")
    if end - start > MAX_WINDOW:
        raise ValidationFailedError(f"the window is at most {MAX_WINDOW.days} days", code="invalid_window")
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    return Window(start, end) if step is None else Window(align_down(start, step), _ceil(end, step))


def pick_step(w: Window, step_s: int | None, shortest: int = STEPS[0]) -> timedelta:
    """The step of a timeseries: ``step_s`` if allowed, else the shortest giving at most 360 points.
    ``shortest``: the finest step the data still has for this window (see QueryService)."""
    span = (w.end - w.start).total_seconds()
    if step_s is None:
        return timedelta(seconds=next((s for s in STEPS if s >= shortest and span / s <= AUTO_POINTS), STEPS[-1]))
    if step_s not in STEPS:
        raise ValidationFailedError(f"step must be one of {', '.join(map(str, STEPS))} (seconds)", code="invalid_step")
    if step_s < shortest:
        raise ValidationFailedError(
            f"steps under {shortest} s reach back only as far as the per-minute histograms are kept "
            "(PRISM_MINUTE_HISTOGRAM_DAYS): pick a longer step or a more recent window",
            code="invalid_step",
        )
    if span / step_s > MAX_POINTS:
        raise ValidationFailedError(
            f"{span / step_s:.0f} points: at most {MAX_POINTS}; pick a longer step or a shorter window",
            code="too_many_points",
        )
    return timedelta(seconds=step_s)


Histograms = dict[str, Counter[int]]  # metric -> count per bucket
Key = tuple[str | None, ...]  # a group's values of the group_by keys
NO_TOTALS = Totals(0, 0, 0.0, None, 0.0, 0, 0, 0, 0, 0.0, 0)


def _counts(row: HistogramCounts) -> Counter[int]:
    """A histogram row of the store as counts per bucket."""
    return Counter(dict(zip(row.idx, row.n, strict=True)))


def _figures(totals: Totals | None, hists: Histograms, minutes: float) -> dict[str, Any]:
    """The fields of :class:`Figures` (for it or a model extending it) from a group's totals and histograms."""
    t = totals or NO_TOTALS
    requests, errors, ttft_count = int(t.requests), int(t.errors), int(t.ttft_count)

    def values(metric: str) -> dict[str, float | None]:
        picked = histogram.quantiles(hists.get(metric, {}), QUANTILES.values())
        return {name: picked[q] for name, q in QUANTILES.items()}

    return {
        "requests": requests,
        "errors": errors,
        "error_rate": errors / requests if requests else None,
        "requests_per_minute": requests / minutes if minutes else None,
        "latency_ms": {
            "avg": t.latency_ms_sum / requests if requests else None,
            **values("latency"),
            "max": t.latency_ms_max,
        },
        "ttft_ms": {"avg": t.ttft_ms_sum / ttft_count if ttft_count else None, **values("ttft")},
        "tokens": {
            "prompt": int(t.prompt_tokens or 0),
            "completion": int(t.completion_tokens or 0),
            "total": int(t.total_tokens or 0),
        },
        "cost_usd": float(t.cost_usd or 0.0),
        "unpriced": int(t.unpriced or 0),
    }


def _named(group_by: Sequence[GroupKey], key: Key) -> GroupKeyValues:
    return dict(zip(group_by, key, strict=True))


class QueryService:
    def __init__(
        self,
        store: QueryStore,
        raw_store: RawPayloadStore | None,
        *,
        minute_histogram_days: int = 2,
        clock: Clock = utc_now,
    ) -> None:
        self.store = store
        self.raw_store = raw_store
        self._minute_days = minute_histogram_days
        self._clock = clock

    def minute_horizon(self) -> datetime:
        """Per-minute histograms exist from here on (the writer's maintenance prunes older ones)."""
        today = datetime.combine(utc_today(self._clock), datetime.min.time(), UTC)
        return today - timedelta(days=self._minute_days)

    def logs_window(self, start: datetime | None, end: datetime | None) -> Window:
        """The window of a logs query: as given, by default the last 24 hours."""
        return window(start, end, None, clock=self._clock)

    def window(self, start: datetime | None, end: datetime | None) -> Window:
        """The window of a summary, in whole minutes; an edge older than the per-minute histograms
        is widened to the whole hour around it."""
        w = window(start, end, clock=self._clock)
        horizon = self.minute_horizon()
        start_, end_ = w.start, w.end
        if start_ < horizon:
            start_ = align_down(start_, HOUR)
        if end_ < horizon:
            end_ = _ceil(end_, HOUR)
        return Window(start_, end_)

    def series_window(
        self, start: datetime | None, end: datetime | None, step_s: int | None
    ) -> tuple[Window, timedelta]:
        """The window and step of a timeseries: whole steps; under an hour only where per-minute
        histograms exist."""
        w = window(start, end, clock=self._clock)
        shortest = STEPS[0] if w.start >= self.minute_horizon() else 3600
        step = pick_step(w, step_s, shortest)
        return window(w.start, w.end, step), step

    async def summary(self, w: Window, filters: Filters, group_by: Sequence[GroupKey]) -> Summary:
        totals = await run_in_threadpool(self.store.totals, w.start, w.end, filters, group_by)
        hists = await run_in_threadpool(self.store.histograms, w.start, w.end, filters, group_by)
        by_key: dict[Key, Histograms] = defaultdict(dict)
        overall: Histograms = defaultdict(Counter)  # the groups' histograms merged: counts add
        for row in hists:
            counts = _counts(row)
            by_key[row.key][row.metric] = counts
            overall[row.metric] += counts
        groups = [
            GroupFigures(key=_named(group_by, t.key), **_figures(t, by_key[t.key], w.minutes))
            for t in sorted(totals, key=lambda t: -int(t.requests))
        ]
        return Summary(
            from_=w.start,
            to=w.end,
            group_by=list(group_by),
            percentile_relative_error=round(histogram.RELATIVE_ERROR, 4),
            total=Figures(**_figures(_sum_totals(totals), overall, w.minutes)),
            groups=groups if group_by else [],
        )

    async def timeseries(
        self, w: Window, step: timedelta, filters: Filters, group_by: Sequence[GroupKey]
    ) -> Timeseries:
        totals = await run_in_threadpool(self.store.totals, w.start, w.end, filters, group_by, step)
        hists = await run_in_threadpool(self.store.histograms, w.start, w.end, filters, group_by, step)
        per_point: dict[Key, dict[datetime | None, Totals]] = defaultdict(dict)
        for row in totals:
            per_point[row.key][row.t] = row
        hist_point: dict[Key, dict[datetime | None, Histograms]] = defaultdict(lambda: defaultdict(dict))
        for h in hists:
            hist_point[h.key][h.t][h.metric] = _counts(h)
        keys: list[Key] = sorted(per_point, key=lambda k: -sum(int(p.requests) for p in per_point[k].values()))
        if not group_by:
            keys = [()]  # one series, every step present even when nothing happened
        times = []
        t = w.start
        while t < w.end:
            times.append(t)
            t += step
        minutes = step / MINUTE
        series = [
            Series(
                key=_named(group_by, k),
                points=[
                    Point(t=at, **_figures(per_point[k].get(at), hist_point[k].get(at, {}), minutes)) for at in times
                ],
            )
            for k in keys
        ]
        return Timeseries(
            from_=w.start,
            to=w.end,
            step_seconds=int(step.total_seconds()),
            group_by=list(group_by),
            percentile_relative_error=round(histogram.RELATIVE_ERROR, 4),
            series=series,
        )

    async def logs(self, q: LogQuery) -> LogsPage:
        rows = await run_in_threadpool(self.store.list_logs, LogQuery(**{**vars(q), "limit": q.limit + 1}))
        more = len(rows) > q.limit
        rows = rows[: q.limit]
        cursor = encode_cursor(rows[-1].created_at, rows[-1].id) if more and rows else None
        return LogsPage(items=[LogItem.model_validate(r) for r in rows], next_cursor=cursor)

    async def log(self, log_id: UUID) -> LogDetail:
        row = await run_in_threadpool(self.store.get_log, log_id)
        if row is None:
            raise NotFoundError(f"inference event {log_id} not found", code="log_not_found")
        uri, inline = row.raw_payload_uri, row.raw_payload_jsonb
        location: PayloadLocation | None = "object_store" if uri else ("inline" if inline is not None else None)
        payload, error = None, None
        try:
            payload = await run_in_threadpool(load_payload, uri, inline, self.raw_store)
        except PrismError as exc:  # the row is still worth showing without its payload
            error = exc.message
        stored = {f.name: getattr(row, f.name) for f in dataclass_fields(row) if f.name not in _WHERE_PAYLOAD_IS}
        return LogDetail(**stored, payload_location=location, payload=payload, payload_error=error)


def _sum_totals(rows: list[Totals]) -> Totals | None:
    if not rows:
        return None
    sums: dict[str, Any] = {name: sum(getattr(r, name) or 0 for r in rows) for name in _SUMMED}
    top = max((r.latency_ms_max for r in rows if r.latency_ms_max is not None), default=None)
    return Totals(**sums, latency_ms_max=top)


_WHERE_PAYLOAD_IS = ("raw_payload_uri", "raw_payload_jsonb")  # shown as payload_location and payload
_SUMMED = ("requests", "errors", "latency_ms_sum", "ttft_ms_sum", "ttft_count", "prompt_tokens", "completion_tokens",
           "total_tokens", "cost_usd", "unpriced")  # fmt: skip


class DashboardService:
    """Saved dashboards: the store's calls in a worker thread, an unknown id as 404, a name the
    owner already uses as 409 ``name_taken``."""

    def __init__(self, store: DashboardStore) -> None:
        self.store = store

    @staticmethod
    def _out(d: Dashboard) -> DashboardOut:
        spec = DashboardSpec.model_validate(d.spec)  # as saved: a DashboardIn's spec
        return DashboardOut(
            id=d.id, name=d.name, project=d.project, spec=spec, created_at=d.created_at, updated_at=d.updated_at
        )

    @staticmethod
    def _missing(dashboard_id: UUID) -> NotFoundError:
        return NotFoundError(f"dashboard {dashboard_id} not found", code="dashboard_not_found")

    async def list_in(self, projects: Sequence[str]) -> list[DashboardOut]:
        """The dashboards of any of ``projects``, most recently changed first (each names its own)."""
        return [self._out(d) for d in await run_in_threadpool(self.store.list_dashboards_in, projects)]

    async def list(self, project: str = "default") -> list[DashboardOut]:
        """The project's dashboards, most recently changed first."""
        return [self._out(d) for d in await run_in_threadpool(self.store.list_dashboards, project)]

    async def create(self, body: DashboardNew, owner: UUID | None = None) -> DashboardOut:
        """A new dashboard of ``owner`` in ``body.project``; a name the owner already uses there
        (whatever its case) is a 409."""
        saved = await run_in_threadpool(
            self.store.save_dashboard,
            uuid4(),
            body.name,
            body.spec.model_dump(),
            create=True,
            owner=owner,
            project=body.project,
        )
        assert saved is not None
        return self._out(saved)

    async def get(self, dashboard_id: UUID) -> DashboardOut:
        found = await run_in_threadpool(self.store.get_dashboard, dashboard_id)
        if found is None:
            raise self._missing(dashboard_id)
        return self._out(found)

    async def replace(self, dashboard_id: UUID, body: DashboardIn) -> DashboardOut:
        """Its name and spec replaced, its project kept (a rename to a name its owner already uses
        in that project is a 409)."""
        saved = await run_in_threadpool(
            self.store.save_dashboard, dashboard_id, body.name, body.spec.model_dump(), create=False
        )
        if saved is None:
            raise self._missing(dashboard_id)
        return self._out(saved)

    async def delete(self, dashboard_id: UUID) -> None:
        if not await run_in_threadpool(self.store.delete_dashboard, dashboard_id):
            raise self._missing(dashboard_id)
