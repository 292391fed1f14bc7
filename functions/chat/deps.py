"""What the chat routes take from the app: its service, the provider settings, the turn limit, and
who is calling.

The chat is for signed-in users (a session cookie: ``prism.auth.require(..., sessions_only=True)``): a
personal read token is for the query API and gets 403 here, an ingestion key too, and the chat's
OpenAPI document names no token scheme. ``ChatViewer`` reads one's own conversations, ``ChatMember``
chats (and lists the models and providers), ``ChatAdmin`` changes the providers.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Depends, Request
from prism.auth import require
from prism.identity.model import Principal, Role
from prism.ratelimit import RateLimiter

from chat.providers import Providers
from chat.service import ChatService


def get_service(request: Request) -> ChatService:
    service: ChatService = request.app.state.chat
    return service


def get_providers(request: Request) -> Providers:
    providers: Providers = request.app.state.providers
    return providers


ChatViewer = Annotated[Principal, require(Role.viewer, sessions_only=True)]
ChatMember = Annotated[Principal, require(Role.member, sessions_only=True)]
ChatAdmin = Annotated[Principal, require(Role.admin, sessions_only=True)]


def owner(me: Principal) -> UUID:
    """The caller's user id: whose conversations these are."""
    assert me.user is not None  # sessions_only lets in sessions only, which always have a user
    return me.user.id


async def allow_turn(request: Request, me: ChatMember) -> None:
    """A chat turn spends the provider keys: at most PRISM_RATE_LIMIT_CHAT_TURNS per user."""
    limiter: RateLimiter = request.app.state.limiter
    await limiter.hit("chat_turns", str(owner(me)), what="chat turns")


ServiceDep = Annotated[ChatService, Depends(get_service)]
TurnAllowed = Depends(allow_turn)
ProvidersDep = Annotated[Providers, Depends(get_providers)]
