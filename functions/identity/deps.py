"""What the identity routes take from the request and the app: the service, who is calling from
where, and the session the browser presented."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from prism.auth import SESSION_COOKIE, get_identity
from prism.config import Settings
from prism.http import caller_address
from prism.identity.service import IdentityService

IdentityDep = Annotated[IdentityService, Depends(get_identity)]


class Caller:
    """The client's address and user agent, and the session id its browser presented (ended at sign-in)."""

    def __init__(self, request: Request) -> None:
        self.address = caller_address(request)
        self.user_agent = request.headers.get("user-agent")
        self.presented = request.cookies.get(SESSION_COOKIE)


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


CallerDep = Annotated[Caller, Depends()]
SettingsDep = Annotated[Settings, Depends(get_settings)]
