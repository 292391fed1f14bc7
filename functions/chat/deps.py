"""What the chat routes take from the app: its service, the provider settings, the turn limit, and
who is calling.

The chat is for signed-in users (a session cookie, ``prism.auth``): a personal read token is for the
query API and gets 403 here, an ingestion key too. ``ChatViewer`` reads one's own conversations,
``ChatMember`` chats (and lists the models and providers), ``ChatAdmin`` changes the providers.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, Request
from prism.auth import require
from prism.identity.errors import ForbiddenRoleError
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


def _signed_in(role: Role) -> Any:
    async def caller(me: Principal = require(role)) -> Principal:
        if me.kind != "session" or me.user is None:
            raise ForbiddenRoleError("the chat is for signed-in users (a read token reads the query API)")
        return me

    return Depends(caller)


ChatViewer = Annotated[Principal, _signed_in(Role.viewer)]
ChatMember = Annotated[Principal, _signed_in(Role.member)]
ChatAdmin = Annotated[Principal, _signed_in(Role.admin)]


def owner(me: Principal) -> UUID:
    """The caller's user id: whose conversations these are."""
    assert me.user is not None  # _signed_in lets in sessions only, which always have a user
    return me.user.id


async def allow_turn(request: Request, me: ChatMember) -> None:
    """A chat turn spends the provider keys: at most PRISM_RATE_LIMIT_CHAT_TURNS per user."""
    limiter: RateLimiter = request.app.state.limiter
    await limiter.hit("chat_turns", str(owner(me)), what="chat turns")


ServiceDep = Annotated[ChatService, Depends(get_service)]
TurnAllowed = Depends(allow_turn)
ProvidersDep = Annotated[Providers, Depends(get_providers)]
