"""What the chat routes take from the app: its service, the provider settings, the turn limit."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from prism.http import caller_address
from prism.ratelimit import RateLimiter

from chat.providers import Providers
from chat.service import ChatService


def get_service(request: Request) -> ChatService:
    service: ChatService = request.app.state.chat
    return service


def get_providers(request: Request) -> Providers:
    providers: Providers = request.app.state.providers
    return providers


async def allow_turn(request: Request) -> None:
    """A chat turn spends the provider keys: at most PRISM_RATE_LIMIT_CHAT_TURNS per caller (the
    client address until there are signed-in users)."""
    limiter: RateLimiter = request.app.state.limiter
    await limiter.hit("chat_turns", caller_address(request), what="chat turns")


ServiceDep = Annotated[ChatService, Depends(get_service)]
TurnAllowed = Depends(allow_turn)
ProvidersDep = Annotated[Providers, Depends(get_providers)]
