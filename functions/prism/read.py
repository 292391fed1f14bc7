"""The read side's ports: what the query API reads (rollups, histograms, log rows) and its saved
dashboards. The PostgreSQL adapter is :mod:`prism.adapters.postgres_query`, the fakes are in
:mod:`prism.adapters.memory`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol
from uuid import UUID

GROUP_KEYS = ("model", "provider", "status")


@dataclass(frozen=True)
class Filters:
    """Which rows count: each field is "any of" (empty: all)."""

    model: Sequence[str] = ()
    provider: Sequence[str] = ()
    status: Sequence[str] = ()


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


class QueryStore(Protocol):
    """What the query API reads: rollup totals, merged histogram counts, log rows."""

    def totals(
        self,
        start: datetime,
        end: datetime,
        filters: Filters,
        group_by: Sequence[str] = (),
        step: timedelta | None = None,
    ) -> list[dict[str, Any]]: ...

    def histograms(
        self,
        start: datetime,
        end: datetime,
        filters: Filters,
        group_by: Sequence[str] = (),
        step: timedelta | None = None,
    ) -> list[dict[str, Any]]: ...

    def list_logs(self, q: LogQuery) -> list[dict[str, Any]]: ...

    def get_log(self, log_id: UUID) -> dict[str, Any] | None: ...

    def ping(self) -> None: ...


@dataclass
class Dashboard:
    id: UUID
    name: str
    spec: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class DashboardStore(Protocol):
    def list_dashboards(self) -> list[Dashboard]: ...

    def get_dashboard(self, dashboard_id: UUID) -> Dashboard | None: ...

    def save_dashboard(self, dashboard_id: UUID, name: str, spec: dict[str, Any], *, create: bool) -> Dashboard | None:
        """Insert (``create``) or replace; None when replacing an id that does not exist."""
        ...

    def delete_dashboard(self, dashboard_id: UUID) -> bool: ...
