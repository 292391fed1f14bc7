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
from prism.http import JSONBody, install_docs, install_edge
from prism.identity.service import IdentityService
from prism.logs import setup_logging
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
    app.state.dashboards = DashboardService(dashboards)
    # Who may read: every route but /healthz needs a session or a read token (prism.auth).
    app.state.identity = identity or bootstrap.build_identity_service(settings)
    install_edge(
        app,
        hosts=settings.trusted_hosts,
        origins=settings.cors_origin_list,
        max_body_bytes=MAX_BODY_BYTES,
        body_timeout_s=settings.body_timeout_s,
        viewer_address_header=settings.viewer_address_header,
    )
    for router in (health.router, metrics.router, logs.router, dashboard_routes.router):
        app.include_router(router)
    return app


def __getattr__(name: str) -> Any:
    # ``uvicorn query.app:app`` (and the Lambda handler) build the app on first access, from the environment.
    if name == "app":
        setup_logging("prism-query")
        globals()["app"] = create_app()
        return globals()["app"]
    raise AttributeError(name)
