"""Single sign-on: ``GET /api/auth/oidc/login`` sends the browser to the OpenID provider,
``GET /api/auth/oidc/callback`` is where the provider sends it back. Both are browser navigations:
an error answers a browser (``Accept: text/html``) with a redirect to ``/login/?error=<code>`` and
anything else with the usual JSON error."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from prism.errors import PrismError
from prism.http import JSONBody, error_body

from identity.deps import CallerDep, IdentityDep
from identity.oidc import LOGIN_TTL_S, OIDCClient, OIDCDisabledError
from identity.service import is_https, start_session

router = APIRouter(tags=["auth"])

LOGIN_COOKIE = "prism_oidc"  # the sealed state, nonce and PKCE verifier of the login in progress
COOKIE_PATH = "/api/auth/oidc"
CALLBACK_PATH = "/api/auth/oidc/callback"

_ERROR = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
OIDC_RESPONSES: dict[int | str, dict[str, Any]] = {
    302: {"description": "To the provider (login) or, signed in, to / (callback); a browser's error: to /login/"},
    400: {"description": "The callback belongs to no login of this browser (oidc_state_mismatch)", **_ERROR},
    401: {"description": "The provider refused, the code was refused or the ID token did not verify", **_ERROR},
    403: {"description": "The account is disabled, or the provider has not verified the e-mail", **_ERROR},
    404: {"description": "Single sign-on is not configured (oidc_disabled)", **_ERROR},
    409: {"description": "The e-mail belongs to another account (email_taken)", **_ERROR},
    503: {"description": "The provider cannot be reached (oidc_provider_unavailable)", **_ERROR},
}


def get_oidc(request: Request) -> OIDCClient:
    client: OIDCClient | None = request.app.state.oidc
    if client is None:
        raise OIDCDisabledError("single sign-on is not configured (PRISM_OIDC_ISSUER)")
    return client


OIDCDep = Annotated[OIDCClient, Depends(get_oidc)]


@router.get("/api/auth/oidc/login", status_code=302, response_class=RedirectResponse, responses=OIDC_RESPONSES)
async def oidc_login(request: Request) -> Response:
    """Start a single sign-on: a redirect to the provider's authorization endpoint (code flow,
    PKCE S256, state and nonce), and the login's sealed cookie (HttpOnly, 10 minutes)."""
    try:
        oidc = get_oidc(request)
        url, pending = await oidc.begin(redirect_uri(request, oidc))
    except PrismError as exc:
        return failure(request, exc)
    response = RedirectResponse(url, status_code=302)
    response.set_cookie(
        LOGIN_COOKIE,
        oidc.seal(pending),
        max_age=LOGIN_TTL_S,
        path=COOKIE_PATH,
        secure=is_https(request),
        httponly=True,
        samesite="lax",  # sent on the provider's top-level redirect back
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/api/auth/oidc/callback", status_code=302, response_class=RedirectResponse, responses=OIDC_RESPONSES)
async def oidc_callback(request: Request, identity: IdentityDep, caller: CallerDep) -> Response:
    """Finish a single sign-on: the state must be the login cookie's, the code is exchanged, the ID
    token verified; the user (found by issuer and subject, else created with the mapped role) gets a
    session cookie and a redirect to ``/``. The login cookie is spent either way."""
    try:
        oidc = get_oidc(request)
        pending = oidc.unseal(request.cookies.get(LOGIN_COOKIE))
        who = await oidc.finish(pending, dict(request.query_params))
        signin = await identity.login_oidc(
            who.issuer,
            who.subject,
            who.email,
            who.name,
            who.role,
            address=caller.address,
            user_agent=caller.user_agent,
            replaces=caller.presented,
        )
    except PrismError as exc:
        return failure(request, exc)
    response = RedirectResponse("/", status_code=302)
    start_session(request, response, signin, identity)
    forget_login(request, response)
    return response


def redirect_uri(request: Request, oidc: OIDCClient) -> str:
    """``PRISM_OIDC_REDIRECT_URL``, else the callback on the origin the browser used."""
    if oidc.config.redirect_url:
        return oidc.config.redirect_url
    host = request.headers.get("x-forwarded-host", "").split(",")[0].strip() or request.headers.get("host", "")
    scheme = "https" if is_https(request) else "http"
    return f"{scheme}://{host or request.url.netloc}{CALLBACK_PATH}"


def failure(request: Request, exc: PrismError) -> Response:
    """A browser goes back to the login page with the error's code; an API client gets the JSON error."""
    response: Response
    if "text/html" in request.headers.get("accept", ""):
        response = RedirectResponse(f"/login/?error={exc.code}", status_code=302)
    else:
        headers = {"Retry-After": "1"} if exc.status == 503 else None
        response = JSONBody(error_body(exc.code, exc.message), status_code=exc.status, headers=headers)
    response.headers["Cache-Control"] = "no-store"
    forget_login(request, response)
    return response


def forget_login(request: Request, response: Response) -> None:
    response.delete_cookie(LOGIN_COOKIE, path=COOKIE_PATH, secure=is_https(request), httponly=True, samesite="lax")
