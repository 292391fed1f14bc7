"""The query API: metrics and the logs explorer over what the writer stored. Read only.

Locally ``uvicorn query.app:app --port 8102`` (``make up``); on AWS ``query.handler.handler``
(Mangum). OpenAPI at ``/docs``. ``create_app(...)`` only wires: routes in ``query.routes``, what they
depend on in ``query.deps``, the logic in ``query.service``, the models in ``query.schemas``; the parts
come from ``prism.bootstrap`` unless a test passes its own.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from prism import bootstrap
from prism.config import Settings, get_settings
from prism.http import app_on_first_access, new_app
from prism.identity.service import IdentityService
from prism.ports import RawPayloadStore
from prism.read import DashboardStore, QueryStore

from query.routes import dashboards as dashboard_routes
from query.routes import health, logs, metrics
from query.service import DashboardService, QueryService

MAX_BODY_BYTES = 256 * 1024  # a dashboard spec: 24 panels


def create_app(
    settings: Settings | None = None,
    *,
    store: QueryStore | None = None,
    dashboards: DashboardStore | None = None,
    raw_store: RawPayloadStore | None = None,
    identity: IdentityService | None = None,
) -> FastAPI:
    settings = settings or get_settings()
    if store is None or dashboards is None:
        pg = bootstrap.build_query_store(settings)
        store, dashboards = store or pg, dashboards or pg
    raw_store = raw_store or bootstrap.build_raw_store(settings)
    app = new_app(
        settings,
        title="Prism query API",
        description="Metrics (percentiles from mergeable histograms) and the logs explorer.",
        max_body_bytes=MAX_BODY_BYTES,
    )
    app.state.query = QueryService(store, raw_store, minute_histogram_days=settings.minute_histogram_days)
    app.state.dashboards = DashboardService(dashboards)
    # Who may read: every route but /healthz needs a session or a read token (prism.auth).
    app.state.identity = identity or bootstrap.build_identity_service(settings)
    for router in (health.router, metrics.router, logs.router, dashboard_routes.router):
        app.include_router(router)
    return app


def __getattr__(name: str) -> Any:
    # ``uvicorn query.app:app`` (and the Lambda handler) build the app on first access, from the environment.
    return app_on_first_access(globals(), name, "prism-query", create_app)
