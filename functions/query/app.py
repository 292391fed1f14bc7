"""The query API: metrics and the logs explorer over what the writer stored. Read only.

Locally ``uvicorn query.app:app --port 8102`` (``make up``); on AWS ``query.handler.handler``
(Mangum). OpenAPI at ``/docs``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import Depends, FastAPI, Query, Request, Response
from prism.config import Settings, get_settings
from prism.cursor import decode_cursor
from prism.errors import NotFoundError, ValidationFailedError
from prism.http import JSONBody, install_docs, install_edge
from prism.ports import Dashboard, DashboardStore, Filters, LogQuery, QueryStore, RawPayloadStore
from starlette.concurrency import run_in_threadpool

from query.schemas import DashboardIn, DashboardOut
from query.service import QueryService

MAX_BODY_BYTES = 256 * 1024  # a dashboard spec: 24 panels
Status = Literal["ok", "error", "cancelled"]
GroupKey = Literal["model", "provider", "status"]
Text = Annotated[str, Query(min_length=1, max_length=500)]


def _service(request: Request) -> QueryService:
    service: QueryService = request.app.state.query
    return service


ServiceDep = Annotated[QueryService, Depends(_service)]


class Common:
    """The window and filters every read takes."""

    def __init__(
        self,
        from_: Annotated[datetime | None, Query(alias="from", description="Start, ISO 8601 with a time zone")] = None,
        to: Annotated[datetime | None, Query(description="End (exclusive); default now")] = None,
        model: Annotated[list[str] | None, Query(max_length=50)] = None,
        provider: Annotated[list[str] | None, Query(max_length=50)] = None,
        status: Annotated[list[Status] | None, Query(max_length=3)] = None,
    ) -> None:
        self.start, self.end = from_, to
        for name, values in (("model", model), ("provider", provider)):
            for v in values or ():
                if not v or len(v) > 500:
                    raise ValidationFailedError(f"'{name}' values are 1 to 500 characters", code="invalid_filter")
        self.filters = Filters(model=model or (), provider=provider or (), status=status or ())


CommonDep = Annotated[Common, Depends()]
GroupBy = Annotated[list[GroupKey] | None, Query(max_length=3, description="Break down by these keys")]


def create_app(
    settings: Settings | None = None,
    *,
    store: QueryStore | None = None,
    dashboards: DashboardStore | None = None,
    raw_store: RawPayloadStore | None = None,
) -> FastAPI:
    settings = settings or get_settings()
    if store is None or dashboards is None:
        from prism.adapters.postgres_query import PostgresQueryStore

        pg = PostgresQueryStore(settings.database_dsn)
        store, dashboards = store or pg, dashboards or pg
    if raw_store is None:
        from prism.bootstrap import build_raw_store

        raw_store = build_raw_store(settings)
    app = FastAPI(
        title="Prism query API",
        version="1",
        description="Metrics (percentiles from mergeable histograms) and the logs explorer.",
        default_response_class=JSONBody,
        docs_url=None,
        redoc_url=None,
    )
    install_docs(app)
    app.state.query = QueryService(store, raw_store, minute_histogram_days=settings.minute_histogram_days)
    install_edge(
        app,
        hosts=settings.trusted_hosts,
        origins=settings.cors_origin_list,
        max_body_bytes=MAX_BODY_BYTES,
        body_timeout_s=settings.body_timeout_s,
    )

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/api/metrics/summary", tags=["metrics"])
    async def summary(service: ServiceDep, common: CommonDep, group_by: GroupBy = None) -> Any:
        """Requests, errors, latency and TTFT (avg, p50/p90/p95/p99, max), tokens and cost over the
        window, in total and per group. Percentiles are within ``percentile_relative_error`` of exact."""
        w = service.window(common.start, common.end)
        return await service.summary(w, common.filters, list(dict.fromkeys(group_by or ())))

    @app.get("/api/metrics/timeseries", tags=["metrics"])
    async def timeseries(
        service: ServiceDep,
        common: CommonDep,
        group_by: GroupBy = None,
        step: Annotated[int | None, Query(description="Seconds: 60, 300, 900, 3600, 21600 or 86400")] = None,
    ) -> Any:
        """The same figures per step (auto: at most 360 points), one series per group."""
        w, chosen = service.series_window(common.start, common.end, step)
        return await service.timeseries(w, chosen, common.filters, list(dict.fromkeys(group_by or ())))

    @app.get("/api/logs", tags=["logs"])
    async def logs(
        service: ServiceDep,
        common: CommonDep,
        conversation_id: Text | None = None,
        trace_id: Text | None = None,
        user_id: Text | None = None,
        tag: Text | None = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        cursor: Annotated[str | None, Query(max_length=500)] = None,
    ) -> Any:
        """Inference events, newest first; follow ``next_cursor`` for older ones."""
        w = service.logs_window(common.start, common.end)
        q = LogQuery(
            start=w.start,
            end=w.end,
            filters=common.filters,
            conversation_id=conversation_id,
            trace_id=trace_id,
            user_id=user_id,
            tag=tag,
            before=decode_cursor(cursor) if cursor else None,
            limit=limit,
        )
        return await service.logs(q)

    @app.get("/api/logs/{log_id}", tags=["logs"])
    async def log(log_id: UUID, service: ServiceDep) -> Any:
        """One event: every stored field, its tool calls, and its request/response payload, wherever it
        is kept (inline, or in the raw payload store)."""
        return await service.log(log_id)

    # --- saved dashboards ---------------------------------------------------------------------

    def _out(d: Dashboard) -> DashboardOut:
        return DashboardOut(id=d.id, name=d.name, spec=d.spec, created_at=d.created_at, updated_at=d.updated_at)

    def _missing(dashboard_id: UUID) -> NotFoundError:
        return NotFoundError(f"dashboard {dashboard_id} not found", code="dashboard_not_found")

    @app.get("/api/dashboards", tags=["dashboards"])
    async def list_dashboards() -> list[DashboardOut]:
        """Saved dashboards, most recently changed first."""
        return [_out(d) for d in await run_in_threadpool(dashboards.list_dashboards)]

    @app.post("/api/dashboards", status_code=201, tags=["dashboards"])
    async def create_dashboard(body: DashboardIn) -> DashboardOut:
        saved = await run_in_threadpool(
            dashboards.save_dashboard, uuid.uuid4(), body.name, body.spec.model_dump(), create=True
        )
        assert saved is not None
        return _out(saved)

    @app.get("/api/dashboards/{dashboard_id}", tags=["dashboards"])
    async def get_dashboard(dashboard_id: UUID) -> DashboardOut:
        found = await run_in_threadpool(dashboards.get_dashboard, dashboard_id)
        if found is None:
            raise _missing(dashboard_id)
        return _out(found)

    @app.put("/api/dashboards/{dashboard_id}", tags=["dashboards"])
    async def replace_dashboard(dashboard_id: UUID, body: DashboardIn) -> DashboardOut:
        saved = await run_in_threadpool(
            dashboards.save_dashboard, dashboard_id, body.name, body.spec.model_dump(), create=False
        )
        if saved is None:
            raise _missing(dashboard_id)
        return _out(saved)

    @app.delete("/api/dashboards/{dashboard_id}", status_code=204, tags=["dashboards"])
    async def delete_dashboard(dashboard_id: UUID) -> Response:
        if not await run_in_threadpool(dashboards.delete_dashboard, dashboard_id):
            raise _missing(dashboard_id)
        return Response(status_code=204)

    return app


app = create_app()
