from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from prism.auth import AUTH_RESPONSES, SESSION_COOKIE, SignedIn

from identity.deps import CallerDep, IdentityDep, SettingsDep
from identity.schemas import InviteAcceptIn, LoginIn, PasswordIn, Providers, SessionOut
from identity.service import end_session, start_session, user_out

router = APIRouter(tags=["auth"])

_ERROR = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
LOGIN_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "Wrong e-mail or password (the same answer for an unknown account)", **_ERROR},
    403: {"description": "Password sign-in is off (password_login_off)", **_ERROR},
    429: {"description": "Too many failed sign-ins for this account or from this address; see Retry-After", **_ERROR},
}


@router.post("/api/auth/login", responses=LOGIN_RESPONSES)
async def login(
    body: LoginIn, request: Request, response: Response, identity: IdentityDep, caller: CallerDep
) -> SessionOut:
    """Sign in with e-mail and password: sets the ``prism_session`` cookie (HttpOnly, SameSite=Lax;
    Secure over https) and answers with the user and the CSRF token. A session the browser already
    had is ended (a new id at every sign-in)."""
    signin = await identity.login(
        body.email, body.password, address=caller.address, user_agent=caller.user_agent, replaces=caller.presented
    )
    return start_session(request, response, signin, identity)


@router.post("/api/auth/invite/accept", responses=LOGIN_RESPONSES)
async def accept_invite(
    body: InviteAcceptIn, request: Request, response: Response, identity: IdentityDep, caller: CallerDep
) -> SessionOut:
    """Use a one-time invite link's token: choose a password and sign in."""
    signin = await identity.accept_invite(
        body.token, body.password, address=caller.address, user_agent=caller.user_agent, replaces=caller.presented
    )
    return start_session(request, response, signin, identity)


@router.get("/api/auth/session", responses=AUTH_RESPONSES)
async def session(me: SignedIn, request: Request, response: Response) -> SessionOut:
    """Who is signed in, and the session's CSRF token (401 when nobody is)."""
    assert me.user is not None
    response.headers["Cache-Control"] = "no-store"
    cookie = request.cookies.get(SESSION_COOKIE)
    csrf = request.app.state.identity.csrf_token(cookie) if me.kind == "session" and cookie else None
    return SessionOut(user=user_out(me.user), csrf_token=csrf)


@router.post("/api/auth/logout", status_code=204, responses=AUTH_RESPONSES)
async def logout(me: SignedIn, request: Request, identity: IdentityDep) -> Response:
    """End this session (the cookie is cleared)."""
    await identity.logout(me)
    response = Response(status_code=204)
    end_session(request, response)
    return response


@router.post("/api/auth/logout-everywhere", status_code=204, responses=AUTH_RESPONSES)
async def logout_everywhere(me: SignedIn, request: Request, identity: IdentityDep) -> Response:
    """End every session of the signed-in user, this one included."""
    await identity.logout_everywhere(me)
    response = Response(status_code=204)
    end_session(request, response)
    return response


@router.post("/api/auth/password", responses=AUTH_RESPONSES)
async def change_password(body: PasswordIn, me: SignedIn, request: Request, identity: IdentityDep) -> SessionOut:
    """Change your password (a temporary one too: this clears ``must_change_password``). Your other
    sessions end; this one stays."""
    user = await identity.change_password(me, body.current_password, body.new_password)
    cookie = request.cookies.get(SESSION_COOKIE)
    return SessionOut(user=user_out(user), csrf_token=identity.csrf_token(cookie) if cookie else None)


@router.get("/api/auth/providers")
async def providers(settings: SettingsDep) -> Providers:
    """Which sign-in methods are on (the login page shows these)."""
    return Providers(password=settings.password_login_enabled, oidc=settings.oidc_enabled)
