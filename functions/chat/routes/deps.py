from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from chat.provider_settings import ProviderSettings
from chat.service import ChatService


def get_service(request: Request) -> ChatService:
    service: ChatService = request.app.state.chat
    return service


def get_providers(request: Request) -> ProviderSettings:
    providers: ProviderSettings = request.app.state.providers
    return providers


ServiceDep = Annotated[ChatService, Depends(get_service)]
ProvidersDep = Annotated[ProviderSettings, Depends(get_providers)]
