"""The identity API: sign-in, sessions, users, API keys, projects and the audit log (issue 11).

Locally ``uvicorn identity.app:app --port 8103`` (``make up``); on AWS ``identity.handler.handler``
(Mangum). OpenAPI at ``/docs``. ``create_app(...)`` only wires: routes in ``identity.routes``, what
they depend on in ``identity.deps``, the response mapping and the cookie in ``identity.service``, the
models in ``identity.schemas``; the rules are ``prism.identity``'s, the service from
``prism.bootstrap.build_identity_service`` unless a test passes its own.

At start it creates the first admin (``PRISM_ADMIN_EMAIL`` / ``PRISM_ADMIN_PASSWORD``) when there is
no user at all.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from prism import bootstrap
from prism.config import Settings, get_settings
from prism.http import app_on_first_access, new_app
from prism.identity.service import IdentityService

from identity.oidc import OIDCClient
from identity.routes import audit, auth, health, keys, oidc, projects, users

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 64 * 1024


async def ensure_first_admin(app: FastAPI) -> None:
    settings: Settings = app.state.settings
    identity: IdentityService = app.state.identity
    if not settings.admin_password:
        if settings.admin_email:
            log.warning("PRISM_ADMIN_PASSWORD is not set: no first admin is created")
        return
    await identity.ensure_admin(settings.admin_email, settings.admin_password)


def create_app(settings: Settings | None = None, *, identity: IdentityService | None = None) -> FastAPI:
    settings = settings or get_settings()
    identity = identity or bootstrap.build_identity_service(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await ensure_first_admin(app)
        yield

    app = new_app(
        settings,
        title="Prism identity API",
        description="Sign-in (password, invite links, single sign-on), sessions, users and roles, API keys, "
        "projects and the audit log. The browser carries the session in the HttpOnly `prism_session` cookie "
        "and sends `X-CSRF-Token` (from `GET /api/auth/session`) with every state change.",
        max_body_bytes=MAX_BODY_BYTES,
        lifespan=lifespan,
    )
    app.state.identity = identity
    app.state.oidc = OIDCClient.from_settings(settings, clock=identity.clock)  # None: single sign-on is off
    for router in (health.router, auth.router, oidc.router, users.router, keys.router, projects.router, audit.router):
        app.include_router(router)
    return app


def __getattr__(name: str) -> Any:
    # ``uvicorn identity.app:app`` (and the Lambda handler) build the app on first access, from the environment.
    return app_on_first_access(globals(), name, "prism-identity", create_app)
