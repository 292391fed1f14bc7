"""Request bodies of the query API: saved dashboards."""

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


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PanelFilters(Strict):
    model: list[Value] = Field(default_factory=list, max_length=50)
    provider: list[Value] = Field(default_factory=list, max_length=50)
    status: list[Literal["ok", "error", "cancelled"]] = Field(default_factory=list, max_length=3)


class Panel(Strict):
    title: Name
    kind: Literal["timeseries", "stat", "table"] = Field(
        description="timeseries: /api/metrics/timeseries; stat and table: /api/metrics/summary"
    )
    figures: list[Figure] = Field(min_length=1, max_length=8, description="Fields of the metrics responses")
    group_by: list[Literal["model", "provider", "status"]] = Field(default_factory=list, max_length=3)
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


class DashboardOut(BaseModel):
    id: UUID
    name: str
    spec: dict[str, Any]
    created_at: datetime
    updated_at: datetime
