"""Request and response models of the query API: saved dashboards, metrics, logs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

NO_NUL = r"^[^\x00]*$"

Figure = Literal[
    "requests",
    "errors",
    "error_rate",
    "requests_per_minute",
    "latency_ms.avg",
    "latency_ms.p50",
    "latency_ms.p90",
    "latency_ms.p95",
    "latency_ms.p99",
    "latency_ms.max",
    "ttft_ms.avg",
    "ttft_ms.p50",
    "ttft_ms.p90",
    "ttft_ms.p95",
    "ttft_ms.p99",
    "tokens.prompt",
    "tokens.completion",
    "tokens.total",
    "cost_usd",
]
Name = Annotated[str, Field(min_length=1, max_length=200, pattern=NO_NUL)]
Value = Annotated[str, Field(min_length=1, max_length=500, pattern=NO_NUL)]
SLUG = r"^[a-z0-9][a-z0-9-]{0,62}$"  # a project's slug, as the identity API makes them
EVERY_PROJECT = "*"  # GET /api/dashboards?project=*: every project the caller may read
SLUG_OR_EVERY = r"^(\*|[a-z0-9][a-z0-9-]{0,62})$"
Slug = Annotated[str, Field(min_length=1, max_length=63, pattern=SLUG, examples=["default"])]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PanelFilters(Strict):
    model: list[Value] = Field(default_factory=list, max_length=50)
    provider: list[Value] = Field(default_factory=list, max_length=50)
    status: list[Literal["ok", "error", "cancelled"]] = Field(default_factory=list, max_length=3)
    project: list[Value] = Field(default_factory=list, max_length=50)


class Panel(Strict):
    title: Name
    kind: Literal["timeseries", "stat", "table"] = Field(
        description="timeseries: /api/metrics/timeseries; stat and table: /api/metrics/summary"
    )
    figures: list[Figure] = Field(min_length=1, max_length=8, description="Fields of the metrics responses")
    group_by: list[Literal["project", "model", "provider", "status"]] = Field(default_factory=list, max_length=4)
    filters: PanelFilters = Field(default_factory=PanelFilters)
    step_seconds: Literal[60, 300, 900, 3600, 21600, 86400] | None = Field(
        default=None, description="timeseries only; default: automatic"
    )


class DashboardSpec(Strict):
    window: Literal["1h", "6h", "24h", "7d", "30d"] = "24h"
    panels: list[Panel] = Field(default_factory=list, max_length=24)


class DashboardIn(Strict):
    name: Name
    spec: DashboardSpec = Field(default_factory=DashboardSpec)


class DashboardNew(DashboardIn):
    project: Slug = Field(default="default", description="The project it belongs to (its slug); kept on replace")


class DashboardOut(BaseModel):
    id: UUID
    name: str
    project: str
    spec: DashboardSpec
    created_at: datetime
    updated_at: datetime


# --- responses ----------------------------------------------------------------------------------
# What the read routes answer: QueryService builds these from the store's rows (prism.read).

Status = Literal["ok", "error", "cancelled"]
GroupKey = Literal["project", "model", "provider", "status"]
PayloadLocation = Literal["inline", "object_store"]


class Health(BaseModel):
    status: Literal["ok"]


class Percentiles(BaseModel):
    avg: float | None
    p50: float | None
    p90: float | None
    p95: float | None
    p99: float | None


class LatencyFigures(Percentiles):
    max: float | None


class Tokens(BaseModel):
    prompt: int
    completion: int
    total: int


class Figures(BaseModel):
    """The figures of a window, a group or a step."""

    requests: int
    errors: int
    error_rate: float | None = Field(description="errors / requests; null without requests")
    requests_per_minute: float | None
    latency_ms: LatencyFigures
    ttft_ms: Percentiles
    tokens: Tokens
    cost_usd: float = Field(description="The cost of the priced calls; calls of unknown cost are counted in unpriced")
    unpriced: int = Field(
        default=0, description="Calls of unknown cost (no price known: cost_usd null on the event), not in cost_usd"
    )


GroupKeyValues = dict[GroupKey, str | None]


class GroupFigures(Figures):
    key: GroupKeyValues = Field(description="The group's value of each group_by key")


class Summary(BaseModel):
    from_: datetime = Field(serialization_alias="from")
    to: datetime
    group_by: list[GroupKey]
    percentile_relative_error: float
    total: Figures
    groups: list[GroupFigures] = Field(description="Busiest first; empty without group_by")


class Point(Figures):
    t: datetime = Field(description="Start of the step")


class Series(BaseModel):
    key: GroupKeyValues
    points: list[Point]


class Timeseries(BaseModel):
    from_: datetime = Field(serialization_alias="from")
    to: datetime
    step_seconds: int
    group_by: list[GroupKey]
    percentile_relative_error: float
    series: list[Series] = Field(description="One per group, busiest first; one without group_by")


class LogItem(BaseModel):
    """One inference event as listed."""

    model_config = ConfigDict(from_attributes=True)

    id: UUID
    created_at: datetime
    ts_start: datetime
    ts_end: datetime
    latency_ms: float
    ttft_ms: float | None
    provider: str
    model: str
    response_model: str | None
    status: Status
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
    project: str = Field(description="The project of the ingestion key that sent it")


class LogsPage(BaseModel):
    items: list[LogItem]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next (older) page; null at the end")


class ToolInvocation(BaseModel):
    model_config = ConfigDict(from_attributes=True)

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


class LogDetail(LogItem):
    """One inference event with every stored field, its tool calls and its payload."""

    ts_first_token: datetime | None
    error_message: str | None
    cached_tokens: int | None
    reasoning_tokens: int | None
    cost_note: str | None
    span_id: str | None
    metadata: dict[str, Any]
    redactions: dict[str, int] = Field(description="How many of each kind of PII or secret were replaced")
    sdk: str | None
    schema_version: int
    tools: list[ToolInvocation]
    payload_location: PayloadLocation | None
    payload: dict[str, Any] | None = Field(description="The request and response as sent, if kept")
    payload_error: str | None = Field(description="Why the payload could not be read (the row is still shown)")
