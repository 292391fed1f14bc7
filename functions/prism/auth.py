"""Who may call a route: the FastAPI glue of :mod:`prism.identity`.

``require(role)`` is a dependency returning the caller's :class:`Principal`; the aliases say it
shorter::

    @router.get("/api/logs")
    async def logs(me: Viewer, ...) -> ...

The caller is either a signed-in browser (the ``prism_session`` cookie) or a script with a personal
read token, sent as ``X-Prism-Token: prism_rt_...`` (which works everywhere, behind CloudFront too)
or ``Authorization: Bearer prism_rt_...`` (where ``Authorization`` arrives: CloudFront's origin access
control replaces it with its SigV4 signature, which is ignored here). Both headers with different
tokens: 400 ``conflicting_tokens``. Every request looks its session up (one indexed query: a session
that was ended is refused at once, nothing is cached). Without credentials: 401 ``unauthenticated``;
with too low a role: 403 ``forbidden``. A cookie-authenticated state change (POST, PUT, PATCH,
DELETE) must also send ``X-CSRF-Token`` (the token of ``GET /api/auth/session``), else 403
``csrf_failed`` (on top of ``prism.http.RequestGuard``'s Origin check). A read token only reads (GET,
HEAD); an ingestion key is refused everywhere here (it only sends events). A user who signed in with
a temporary password gets 403 ``password_change_required`` until they change it, except on the routes
that take ``SignedIn``. ``require(role, sessions_only=True)`` (the chat's routes) takes the cookie
only: any token gets 403 ``forbidden``, and the OpenAPI document lists no token scheme for it.

Each app that uses this puts an ``IdentityService`` in ``app.state.identity`` (built by
``prism.bootstrap.build_identity_service``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from prism.errors import BadRequestError
from prism.http import SAFE_METHODS, caller_address
from prism.identity.errors import (
    CsrfError,
    ForbiddenRoleError,
    PasswordChangeRequiredError,
    UnauthenticatedError,
)
from prism.identity.model import Principal, Role
from prism.identity.service import IdentityService

SESSION_COOKIE = "prism_session"
CSRF_HEADER = "X-CSRF-Token"
TOKEN_HEADER = "X-Prism-Token"  # noqa: S105 (a header name)
SESSIONS_ONLY_MESSAGE = "the chat is for signed-in users (a read token reads the query API)"

# Declared for the OpenAPI documents (security schemes); read by ``require``.
session_cookie = APIKeyCookie(
    name=SESSION_COOKIE,
    auto_error=False,
    scheme_name="session",
    description="The session cookie set by POST /api/auth/login (state changes also need X-CSRF-Token)",
)
read_token = HTTPBearer(
    auto_error=False,
    scheme_name="readToken",
    description="A personal read token (prism_rt_...): GET only. Behind CloudFront, Authorization is replaced "
    "by its signature: send the token in X-Prism-Token there",
)
read_token_header = APIKeyHeader(
    name=TOKEN_HEADER,
    auto_error=False,
    scheme_name="readTokenHeader",
    description="A personal read token (prism_rt_...): GET only. Works everywhere, behind CloudFront too. "
    "With a different token in Authorization: 400 conflicting_tokens",
)


def get_identity(request: Request) -> IdentityService:
    service: IdentityService = request.app.state.identity
    return service


def _authorization(request: Request) -> str | None:
    """The ``Authorization`` header, unless it is CloudFront's: behind CloudFront, origin access
    control's SigV4 signature for the Function URL, checked by Lambda already. It says who CloudFront
    is, not who the caller is."""
    authorization = request.headers.get("authorization")
    if authorization is not None and authorization.startswith("AWS4-HMAC-SHA256 "):
        return None
    return authorization


def _presented_token(request: Request, bearer: HTTPAuthorizationCredentials | None) -> str | None:
    """The read token the request presents, None without one. ``X-Prism-Token`` or ``Authorization:
    Bearer``; with ``X-Prism-Token`` an ``Authorization`` of another scheme is a proxy's and ignored,
    without it one is a 401; both headers with different tokens, 400."""
    header = request.headers.get(TOKEN_HEADER)
    bearer_token = bearer.credentials.strip() if bearer is not None else ""
    if header is None:
        if _authorization(request) is None:
            return None
        if not bearer_token:
            raise UnauthenticatedError(f"send '{TOKEN_HEADER}: <read token>' or 'Authorization: Bearer <read token>'")
        return bearer_token
    token = header.strip()
    if not token:
        raise UnauthenticatedError(f"the {TOKEN_HEADER} header is empty: send '{TOKEN_HEADER}: <read token>'")
    if bearer_token and bearer_token != token:
        raise BadRequestError(
            f"two different tokens, in Authorization and {TOKEN_HEADER}: send one", code="conflicting_tokens"
        )
    return token


async def _authenticate(request: Request, cookie: str | None, token: str | None, *, hint: str) -> Principal:
    identity = get_identity(request)
    address = caller_address(request)
    safe = request.method.upper() in SAFE_METHODS
    if token is not None:
        me = await identity.authenticate_bearer(token, address=address)
        if me.kind == "ingest_key":
            raise ForbiddenRoleError("an ingestion key only sends events (POST /v1/events)")
        if not safe:
            raise ForbiddenRoleError("a read token only reads: sign in to change anything")
        return me
    if cookie:
        me = await identity.authenticate_session(cookie, address=address)
        if not safe and not me.csrf_ok(request.headers.get(CSRF_HEADER)):
            raise CsrfError(f"missing or wrong {CSRF_HEADER} header (from GET /api/auth/session)")
        return me
    raise UnauthenticatedError(hint)


def require(role: Role, *, pending_password: bool = False, sessions_only: bool = False) -> Any:
    """A dependency: the caller, who must have at least ``role``. ``pending_password=True`` lets in a
    user who still has to change a temporary password (the sign-in routes). ``sessions_only=True``
    takes the session cookie only: a read token or an ingestion key (in either header) gets 403
    without being looked up, and the route's OpenAPI operation lists the session scheme alone."""

    def admitted(request: Request, me: Principal) -> Principal:
        if me.user is not None and me.user.must_change_password and not pending_password:
            raise PasswordChangeRequiredError("change your temporary password first (POST /api/auth/password)")
        if not me.role.allows(role):
            raise ForbiddenRoleError(f"this needs the {role.value} role")
        request.state.principal = me
        return me

    async def principal(
        request: Request,
        cookie: Annotated[str | None, Depends(session_cookie)],
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(read_token)],
        _header: Annotated[str | None, Depends(read_token_header)],  # declares the scheme; read from the headers
    ) -> Principal:
        token = _presented_token(request, bearer)
        hint = f"sign in (POST /api/auth/login) or send a read token ({TOKEN_HEADER}: prism_rt_...)"
        return admitted(request, await _authenticate(request, cookie, token, hint=hint))

    async def session_principal(request: Request, cookie: Annotated[str | None, Depends(session_cookie)]) -> Principal:
        # No token scheme declared, yet a token sent is noticed and refused (not taken for no credentials).
        if _authorization(request) is not None or request.headers.get(TOKEN_HEADER) is not None:
            raise ForbiddenRoleError(SESSIONS_ONLY_MESSAGE)
        return admitted(request, await _authenticate(request, cookie, None, hint="sign in (POST /api/auth/login)"))

    return Depends(session_principal if sessions_only else principal)


Viewer = Annotated[Principal, require(Role.viewer)]
Member = Annotated[Principal, require(Role.member)]
Admin = Annotated[Principal, require(Role.admin)]
#: Signed in, even with a temporary password still to change (sign-out, the session, the password).
SignedIn = Annotated[Principal, require(Role.viewer, pending_password=True)]

#: What a route guarded by ``require`` may answer besides its own responses (for ``responses=``).
_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "Not signed in, or the session or token ended (unauthenticated)", "content": _ERROR},
    403: {
        "description": "Too low a role (forbidden), a missing or wrong X-CSRF-Token (csrf_failed), a temporary "
        "password still to change (password_change_required)",
        "content": _ERROR,
    },
}
