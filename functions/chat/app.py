"""The chat API: ``create_app(...)`` builds it from its dependencies; ``app`` is the default one,
built from the environment on first access (as ingestion's and query's are).

Served by uvicorn on port 8100 locally (``uvicorn chat.app:app --port 8100``), by Mangum for the
request/response routes on Lambda (``chat.handler``), and by the Lambda Web Adapter for the
streaming route (see ``docs/architecture.md``). OpenAPI at ``/docs``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from prism import bootstrap
from prism.credentials import build_cipher
from prism.http import app_on_first_access, new_app
from prism.identity.service import IdentityService
from prism.ratelimit import RateLimiter

from chat import sdk as chat_sdk
from chat.config import ChatSettings, get_chat_settings
from chat.demo import DemoServer
from chat.egress import EgressPolicy
from chat.gateway import LiteLLMGateway, ModelGateway
from chat.ports import ConversationStore, CredentialStore
from chat.providers import Providers
from chat.routes import conversations, health, models
from chat.routes import providers as provider_routes
from chat.service import ChatService

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 2 * 1024 * 1024  # a 200,000-character message, JSON-escaped, fits


def create_app(
    settings: ChatSettings | None = None,
    *,
    store: ConversationStore | None = None,
    credential_store: CredentialStore | None = None,
    gateway: ModelGateway | None = None,
    demo: DemoServer | None = None,
    shared_store: bool | None = None,
    configure_sdk: bool | None = None,
    identity: IdentityService | None = None,
) -> FastAPI:
    """Build the app. Defaults are the real adapters from settings; tests pass others.

    ``shared_store``: whether other instances see the same store, so a cancel requested through one
    must be polled for by the one streaming (default: True for the PostgreSQL store built here).
    ``identity``: who may call (``prism.auth``; default: ``prism.bootstrap.build_identity_service``).
    ``configure_sdk``: set prism-sdk's default client up for the chat (its spool: ``chat.sdk``); by
    default only for the app built from the environment (``settings`` None), as tests set theirs.
    """
    if configure_sdk is None:
        configure_sdk = settings is None
    settings = settings or get_chat_settings()
    if configure_sdk:
        chat_sdk.configure_sdk(settings)
    if store is None or credential_store is None:
        pg = bootstrap.build_chat_store(settings)
        store = store or pg
        credential_store = credential_store or pg
        shared_store = True if shared_store is None else shared_store
    cipher = build_cipher(settings)  # follows PRISM_CREDS_KEY_SECRET_ARN's secret
    if demo is None and settings.demo_enabled:
        demo = DemoServer()
    demo_server = demo if settings.demo_enabled else None
    # Where provider endpoints may be: checked on PUT and at every connect (chat.egress).
    egress = EgressPolicy(allow_private=settings.private_provider_hosts_allowed)
    providers = Providers(
        credential_store,
        cipher,
        demo_enabled=settings.demo_enabled,
        demo_base_url=(lambda: demo_server.base_url) if demo_server is not None else None,
        egress=egress,
        allow_custom_base_urls=settings.allow_custom_base_urls,
    )
    gateway = gateway or LiteLLMGateway(egress=egress)
    # On Lambda the environment freezes once a response ends: flush the SDK after each reply
    # (spooled at once while the ingestion API fails: chat.sdk).
    events = chat_sdk.EventDelivery() if gateway.uses_sdk else None
    flush = gateway.flush if chat_sdk.in_lambda() else None
    if events is not None and events.lambda_flush:
        flush = events.after_reply
    service = ChatService(
        store,
        providers,
        gateway,
        total_timeout_s=settings.chat_timeout_s,
        read_timeout_s=settings.chat_read_timeout_s,
        cancel_poll_s=settings.chat_cancel_poll_s if shared_store else None,
        live_interval_s=settings.chat_live_interval_s,
        after_reply=flush,
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Mangum runs this per invocation: only cheap, idempotent work here.
        gateway.warm_in_background()
        yield
        for turn in service.active_turns():
            turn.cancel("shutdown")

    app = new_app(
        settings,
        title="Prism chat API",
        description="Conversations with streamed replies; every model call is logged by prism-sdk.",
        max_body_bytes=MAX_BODY_BYTES,
        lifespan=lifespan,
        response_class=JSONResponse,  # the chat's answers have always been rendered by the json module
    )
    app.state.chat = service
    app.state.providers = providers
    # Every route but /healthz and /readyz needs a signed-in user (chat.deps); provider changes are audited.
    app.state.identity = identity or bootstrap.build_identity_service(settings)
    app.state.demo = demo_server
    app.state.events = events
    app.state.limiter = RateLimiter(settings.rate_limit_storage, {"chat_turns": settings.rate_limit_chat_turns})
    for router in (conversations.router, models.router, provider_routes.router, health.router):
        app.include_router(router)
    return app


def __getattr__(name: str) -> Any:
    # ``uvicorn chat.app:app`` (and the Lambda handler) build the app on first access, from the environment.
    return app_on_first_access(globals(), name, "prism-chat", create_app)
