"""Who may call a route: the FastAPI glue of :mod:`prism.identity`.

``require(role)`` is a dependency returning the caller's :class:`Principal`; the aliases say it
shorter::

    @router.get("/api/logs")
    async def logs(me: Viewer, ...) -> ...

The caller is either a signed-in browser (the ``prism_session`` cookie) or a script with a personal
read token (``Authorization: Bearer prism_rt_...``). Every request looks its session up (one indexed
query: a session that was ended is refused at once, nothing is cached). Without credentials: 401
``unauthenticated``; with too low a role: 403 ``forbidden``. A cookie-authenticated state change
(POST, PUT, PATCH, DELETE) must also send ``X-CSRF-Token`` (the token of ``GET /api/auth/session``),
else 403 ``csrf_failed`` (on top of ``prism.http.RequestGuard``'s Origin check). A read token only
reads (GET, HEAD); an ingestion key is refused everywhere here (it only sends events). A user who
signed in with a temporary password gets 403 ``password_change_required`` until they change it,
except on the routes that take ``SignedIn``.

Each app that uses this puts an ``IdentityService`` in ``app.state.identity`` (built by
``prism.bootstrap.build_identity_service``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

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

# Declared for the OpenAPI documents (security schemes); read by ``require``.
session_cookie = APIKeyCookie(
    name=SESSION_COOKIE,
    auto_error=False,
    scheme_name="session",
    description="The session cookie set by POST /api/auth/login (state changes also need X-CSRF-Token)",
)
read_token = HTTPBearer(
    auto_error=False, scheme_name="readToken", description="A personal read token (prism_rt_...): GET only"
)


def get_identity(request: Request) -> IdentityService:
    service: IdentityService = request.app.state.identity
    return service


def require(role: Role, *, pending_password: bool = False) -> Any:
    """A dependency: the caller, who must have at least ``role``. ``pending_password=True`` lets in a
    user who still has to change a temporary password (the sign-in routes)."""

    async def principal(
        request: Request,
        cookie: Annotated[str | None, Depends(session_cookie)],
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(read_token)],
    ) -> Principal:
        identity = get_identity(request)
        address = caller_address(request)
        safe = request.method.upper() in SAFE_METHODS
        authorization = request.headers.get("authorization")
        if authorization is not None and authorization.startswith("AWS4-HMAC-SHA256 "):
            # Behind CloudFront: origin access control's SigV4 signature for the Function URL, checked
            # by Lambda already. It says who CloudFront is, not who the caller is.
            authorization = None
        if authorization is not None:
            if bearer is None or not bearer.credentials.strip():
                raise UnauthenticatedError("send 'Authorization: Bearer <read token>'")
            me = await identity.authenticate_bearer(bearer.credentials.strip(), address=address)
            if me.kind == "ingest_key":
                raise ForbiddenRoleError("an ingestion key only sends events (POST /v1/events)")
            if not safe:
                raise ForbiddenRoleError("a read token only reads: sign in to change anything")
        elif cookie:
            me = await identity.authenticate_session(cookie, address=address)
            if not safe and not me.csrf_ok(request.headers.get(CSRF_HEADER)):
                raise CsrfError(f"missing or wrong {CSRF_HEADER} header (from GET /api/auth/session)")
        else:
            raise UnauthenticatedError("sign in (POST /api/auth/login) or send a read token")
        if me.user is not None and me.user.must_change_password and not pending_password:
            raise PasswordChangeRequiredError("change your temporary password first (POST /api/auth/password)")
        if not me.role.allows(role):
            raise ForbiddenRoleError(f"this needs the {role.value} role")
        request.state.principal = me
        return me

    return Depends(principal)


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
