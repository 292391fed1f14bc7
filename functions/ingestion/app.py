"""The ingestion function: ``POST /v1/events``, the trust boundary of Prism.

Locally: ``uvicorn ingestion.app:app --port 8101``. In AWS: ``ingestion.handler.handler``.
``create_app(...)`` only wires: routes in ``ingestion.routes``, what they depend on in
``ingestion.deps``, the logic in ``ingestion.service``, the models in ``ingestion.schemas``; the parts
come from ``prism.bootstrap`` unless a test passes its own.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from prism import bootstrap
from prism.clock import Clock, utc_now
from prism.config import Settings, get_settings
from prism.errors import ConfigError
from prism.http import app_on_first_access, new_app
from prism.ingest import Ingestor
from prism.keys import IngestKeys
from prism.ratelimit import RateLimiter

from ingestion.keys import KeyResolver
from ingestion.routes import events, health
from ingestion.schemas import add_components
from ingestion.service import IngestionService


def create_app(
    settings: Settings | None = None,
    ingestor: Ingestor | None = None,
    keys: IngestKeys | None = None,
    *,
    clock: Clock = utc_now,
) -> FastAPI:
    """``keys``: where the projects' ingestion keys are found (default: the database of ``settings``,
    connected to on the first key that is not one of ``PRISM_API_KEY``); ``clock`` judges their
    expiry and the cache's lifetimes."""
    settings = settings or get_settings()
    if not settings.api_keys:
        raise ConfigError("PRISM_API_KEY is not set: the ingestion API needs at least one key")
    ingestor = ingestor or bootstrap.build_ingestor(settings)
    keys = keys or bootstrap.build_ingest_keys(settings)
    app = new_app(
        settings,
        title="Prism ingestion API",
        version="1.0.0",
        description="Receives inference events (v1), validates and redacts them, and publishes them "
        "to the bus. Authenticate with `Authorization: Bearer <PRISM_API_KEY>`.",
        max_body_bytes=settings.max_request_bytes,
        for_browsers=False,  # SDKs call it, not pages: no CORS, no viewer address (ingestion.deps)
    )
    app.state.ingestor = ingestor
    app.state.ingestion = IngestionService(settings, ingestor)
    app.state.keys = KeyResolver(lambda: settings.api_keys, keys, clock=clock)  # follows a rotated secret
    app.state.limiter = RateLimiter(
        settings.rate_limit_storage,
        {"auth_failures": settings.rate_limit_auth_failures, "ingest": settings.rate_limit_ingest},
        key_prefix=f"{settings.stream}:ratelimit",  # beside the stream it guards
    )
    for router in (events.router, health.router):
        app.include_router(router)
    app.openapi_schema = None
    add_components(app)
    return app


def __getattr__(name: str) -> Any:
    # ``uvicorn ingestion.app:app`` (and the Lambda handler) build the app on first access, from the environment.
    return app_on_first_access(globals(), name, "prism-ingestion", create_app)
