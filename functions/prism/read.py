"""The read side's ports: what the query API reads (rollups, histograms, log rows) and its saved
dashboards. The PostgreSQL adapter is :mod:`prism.adapters.postgres_query`, the fakes are in
:mod:`prism.adapters.memory`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol
from uuid import UUID

from prism.errors import ConflictError

GROUP_KEYS = ("project", "model", "provider", "status")


@dataclass(frozen=True)
class Filters:
    """Which rows count: each field is "any of" (empty: all)."""

    model: Sequence[str] = ()
    provider: Sequence[str] = ()
    status: Sequence[str] = ()
    project: Sequence[str] = ()  # slugs


@dataclass(frozen=True)
class LogQuery:
    start: datetime
    end: datetime
    filters: Filters = field(default_factory=Filters)
    conversation_id: str | None = None
    trace_id: str | None = None
    user_id: str | None = None
    tag: str | None = None
    before: tuple[datetime, UUID] | None = None  # keyset: rows strictly older than (created_at, id)
    limit: int = 50


GroupKeyValue = str | None  # a group's value of one group_by key


@dataclass(frozen=True, slots=True)
class Totals:
    """Summed rollup rows of one group (``key``: its values of the group_by keys, in order) and, in
    a timeseries, one step (``t``: its start)."""

    requests: int
    errors: int
    latency_ms_sum: float
    latency_ms_max: float | None
    ttft_ms_sum: float
    ttft_count: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cost_usd: float  # of the priced calls only
    unpriced: int = 0  # calls whose cost is unknown (cost_usd null): not in cost_usd
    key: tuple[GroupKeyValue, ...] = ()
    t: datetime | None = None


@dataclass(frozen=True, slots=True)
class HistogramCounts:
    """One ``metric``'s histogram ("latency" or "ttft") merged over a group (and step): ``idx`` the
    buckets holding values (ascending), ``n`` their counts."""

    metric: str
    idx: Sequence[int]
    n: Sequence[int]
    key: tuple[GroupKeyValue, ...] = ()
    t: datetime | None = None


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One inference event as the logs explorer lists it (columns of ``inference_logs``)."""

    id: UUID
    created_at: datetime
    ts_start: datetime
    ts_end: datetime
    latency_ms: float
    ttft_ms: float | None
    provider: str
    model: str
    response_model: str | None
    status: str
    finish_reason: str | None
    error_type: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    total_tokens: int | None
    cost_usd: float | None
    conversation_id: str | None
    message_id: str | None
    trace_id: str | None
    user_id: str | None
    tags: list[str]
    project: str


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A tool invocation of an event (``tool_invocations``)."""

    idx: int
    name: str
    tool_call_id: str | None
    status: str
    arguments: Any
    result: Any
    error: str | None
    ts_start: datetime | None
    ts_end: datetime | None
    latency_ms: float | None


@dataclass(frozen=True, slots=True)
class LogEntryDetail(LogEntry):
    """One inference event with every stored field: where its raw payload is kept (inline JSON or
    an object store URI) and its tool calls."""

    ts_first_token: datetime | None
    error_message: str | None
    cached_tokens: int | None
    reasoning_tokens: int | None
    cost_note: str | None
    span_id: str | None
    metadata: dict[str, Any]
    redactions: dict[str, int]
    raw_payload_jsonb: Any
    raw_payload_uri: str | None
    sdk: str | None
    schema_version: int
    tools: list[ToolCall]


class QueryStore(Protocol):
    """What the query API reads: rollup totals, merged histogram counts, log rows."""

    def totals(
        self,
        start: datetime,
        end: datetime,
        filters: Filters,
        group_by: Sequence[str] = (),
        step: timedelta | None = None,
    ) -> list[Totals]:
        """Per group (and ``step``): the rollups summed over [start, end); groups without requests
        are left out."""
        ...

    def histograms(
        self,
        start: datetime,
        end: datetime,
        filters: Filters,
        group_by: Sequence[str] = (),
        step: timedelta | None = None,
    ) -> list[HistogramCounts]:
        """Per group (and ``step``, as ``t``) and ``metric``: the histogram merged over [start, end),
        as ``idx`` (ascending buckets) and ``n`` (their counts)."""
        ...

    def list_logs(self, q: LogQuery) -> list[LogEntry]:
        """Newest first (``created_at``, then ``id``), at most ``q.limit``."""
        ...

    def get_log(self, log_id: UUID) -> LogEntryDetail | None: ...

    def ping(self) -> None: ...


@dataclass
class Dashboard:
    id: UUID
    name: str
    spec: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    user_id: UUID | None = None  # the owner: names are unique per project and owner, whatever their case
    project: str = "default"  # the project's slug: lists are per project


def name_taken(name: str) -> ConflictError:
    """The error of saving a dashboard under a name its owner already uses in its project."""
    return ConflictError(f"a dashboard named {name!r} already exists: choose another name", code="name_taken")


class DashboardStore(Protocol):
    def list_dashboards(self, project: str = "default") -> list[Dashboard]:
        """The project's dashboards, most recently changed first."""
        ...

    def list_dashboards_in(self, projects: Sequence[str]) -> list[Dashboard]:
        """The dashboards of any of ``projects`` (none: none), most recently changed first."""
        ...

    def get_dashboard(self, dashboard_id: UUID) -> Dashboard | None: ...

    def save_dashboard(
        self,
        dashboard_id: UUID,
        name: str,
        spec: dict[str, Any],
        *,
        create: bool,
        owner: UUID | None = None,
        project: str = "default",
    ) -> Dashboard | None:
        """Insert (``create``, owned by ``owner``, in ``project``) or replace (the owner and project
        kept); None when replacing an id that does not exist; ``ConflictError`` (``name_taken``) when
        the owner has a dashboard of that name (whatever its case) in that project."""
        ...

    def delete_dashboard(self, dashboard_id: UUID) -> bool: ...
