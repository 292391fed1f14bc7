"""HTTP edge shared by the FastAPI functions: the app every API starts from (``new_app``: one error
shape, one handler per error kind, the edge middleware, the API docs served from the package, no
CDN), and the app a module builds from the environment on first access (``app_on_first_access``)."""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import fastapi_standalone_docs
import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import HTMLResponse, JSONResponse
from starlette.types import ASGIApp, Lifespan, Message, Receive, Scope, Send

from prism import logs
from prism.errors import PrismError, RateLimitedError

if TYPE_CHECKING:
    from prism.config import Settings

log = logging.getLogger(__name__)


class JSONBody(JSONResponse):
    """JSON response rendered with orjson."""

    def render(self, content: object) -> bytes:
        return orjson.dumps(content)


def error_body(code: str, message: str, **extra: object) -> dict[str, object]:
    return {"error": {"code": code, "message": message, **extra}}


_HTTP_CODES = {
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "payload_too_large",
}


# What a public answer (``/readyz``) must not carry of a driver's message: URLs, addresses, host:port.
_ADDRESSES = re.compile(
    r"[a-z][a-z0-9+.-]*://\S+"  # a URL or DSN
    r"|\[?(?:[0-9a-f]{0,4}:){2,}[0-9a-f]{0,4}\]?(?::\d+)?"  # IPv6
    r"|\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b"  # IPv4, its port
    r"|\b[a-z0-9][a-z0-9.-]*:\d{1,5}\b"  # host:port
    r"|(?<=at )\"[^\"]+\"|(?<=host name )\"[^\"]+\"|\bport \d+",  # libpq's: server at "db", port 5432
    re.IGNORECASE,
)


def without_addresses(message: str) -> str:
    """``message`` with every URL, DSN, address and host:port replaced by ``<address>``: readiness
    answers anyone, so it says which part fails and why, never where that part is (the log has it)."""
    return _ADDRESSES.sub("<address>", message)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(PrismError)
    async def prism_error(_request: Request, exc: PrismError) -> JSONBody:
        if exc.status >= 500:
            log.warning("%s: %s", exc.code, exc.message)
        headers = {"Retry-After": "1"} if exc.status == 503 else None
        if isinstance(exc, RateLimitedError):
            headers = {"Retry-After": str(exc.retry_after)}
        return JSONBody(error_body(exc.code, exc.message), status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONBody:
        details = [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))} for e in exc.errors()]
        message = "; ".join(f"{'.'.join(d['loc'])}: {d['msg']}" for d in details)
        return JSONBody(error_body("validation_error", message, details=details), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONBody:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        return JSONBody(
            error_body(code, str(exc.detail)), status_code=exc.status_code, headers=getattr(exc, "headers", None)
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONBody:
        # Runs outside the middleware (Starlette's error middleware is outermost): the request id
        # comes from the scope, where RequestId left it. It finds this request's log lines.
        rid = request_id_of(request)
        log.exception("unhandled error", extra={"request_id": rid} if rid else None)
        body = error_body("internal_error", "internal error", request_id=rid)
        return JSONBody(body, status_code=500, headers={"x-request-id": rid} if rid else None)


class BodyLimit:
    """ASGI middleware: a request body over ``max_bytes`` gets a 413 JSON error before the app reads
    it (by ``Content-Length``, or by counting as a chunked body arrives); a body not received in
    whole within ``read_timeout_s`` of its first read gets a 408 (a client sending 1 byte of 1,000
    holds no connection for ever)."""

    def __init__(self, app: ASGIApp, max_bytes: int, read_timeout_s: float = 30.0) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.read_timeout_s = read_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes
        message = f"the request body is over {limit:,} bytes"
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            await _send_error(send, 413, "payload_too_large", message)
            return
        seen = 0
        started = False
        deadline: float | None = None

        async def counted() -> Message:
            nonlocal seen, deadline
            if deadline is None:
                deadline = anyio.current_time() + self.read_timeout_s
            try:
                with anyio.fail_after(max(0.0, deadline - anyio.current_time())):
                    msg = await receive()
            except TimeoutError:
                raise _BodyTimeout(f"the request body was not received within {self.read_timeout_s:g} s") from None
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > limit:
                    raise _TooLarge(message)
                if not msg.get("more_body", False):
                    deadline = float("inf")  # the whole body is in: later receives wait for a disconnect
            return msg

        async def tracked(msg: Message) -> None:
            nonlocal started
            started = started or msg["type"] == "http.response.start"
            await send(msg)

        try:
            await self.app(scope, counted, tracked)
        except (_TooLarge, _BodyTimeout) as exc:
            if not started:
                await _send_error(send, exc.status_code, _HTTP_CODES[exc.status_code], str(exc.detail))


class _TooLarge(StarletteHTTPException):
    """An HTTPException, so that the app's body parsing passes it on as the 413 it is."""

    def __init__(self, message: str) -> None:
        super().__init__(status_code=413, detail=message)


class _BodyTimeout(StarletteHTTPException):
    def __init__(self, message: str) -> None:
        super().__init__(status_code=408, detail=message, headers={"Connection": "close"})


async def _send_error(send: Send, status: int, code: str, message: str) -> None:
    body = orjson.dumps(error_body(code, message))
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class RequestGuard:
    """ASGI middleware, outermost: what a web page the user happens to visit must not do.

    - DNS rebinding: the ``Host`` header must name this service (``hosts``: loopback names, the
      configured origins' hosts, ``PRISM_ALLOWED_HOSTS``, where ``*.example.com`` names the hosts
      under a domain and ``*`` any host), else 400 ``invalid_host``.
    - Cross-site requests: a state-changing request (any method but GET, HEAD, OPTIONS) from a
      browser page of another origin is refused (403 ``cross_origin``) unless that origin is allowed;
      and a POST must be ``application/json``, which no HTML form can send and which no page can send
      cross-origin without a CORS preflight (415 ``unsupported_media_type``), so a cross-site form or a
      rebinding page cannot act even where the browser sends no ``Origin``."""

    def __init__(self, app: ASGIApp, hosts: list[str], origins: list[str]) -> None:
        self.app = app
        self.any_host = "*" in hosts
        self.hosts = {_hostname(h) for h in hosts if not h.startswith("*.")}  # ports and brackets go
        self.suffixes = tuple(h.lower()[1:] for h in hosts if h.startswith("*."))  # "*.example.com"
        self.origins = {o.rstrip("/").lower() for o in origins}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = _hostname(headers.get("host", ""))
        if not (self.any_host or host in self.hosts or (self.suffixes and host.endswith(self.suffixes))):
            await _send_error(send, 400, "invalid_host", f"this service does not answer to the host {host!r}")
            return
        method = scope["method"].upper()
        if method not in SAFE_METHODS:
            origin = headers.get("origin", "").rstrip("/").lower()
            if origin and origin not in self.origins and _hostname(origin.split("://", 1)[-1]) != host:
                await _send_error(send, 403, "cross_origin", f"requests from {origin} may not change anything here")
                return
            if headers.get("sec-fetch-site") == "cross-site" and not origin:
                await _send_error(send, 403, "cross_origin", "cross-site requests may not change anything here")
                return
            media = headers.get("content-type", "").split(";")[0].strip().lower()
            if method == "POST" and media != "application/json":
                message = f"a POST must be sent as application/json, not {media or 'no content type'}"
                await _send_error(send, 415, "unsupported_media_type", message)
                return
        await self.app(scope, receive, send)


def caller_address(request: Request) -> str:
    """Who is calling, for rate limits and the audit log: the viewer's address that a trusted proxy
    put in the header ``PRISM_VIEWER_ADDRESS_HEADER`` names (``install_edge``'s
    ``viewer_address_header``; CloudFront's ``CloudFront-Viewer-Address``), else the client address
    (on Lambda, Mangum takes it from the event's source IP, which behind CloudFront is its edge). A
    header value that is no ``address:port`` falls back to the client address."""
    header = getattr(request.app.state, _VIEWER_HEADER_STATE, "")
    if header:
        viewer = viewer_address(request.headers.get(header))
        if viewer is not None:
            return viewer
    return request.client.host if request.client else "unknown"


def viewer_address(value: str | None) -> str | None:
    """The address of an ``address:port`` header value, None when it is not one. CloudFront writes
    ``203.0.113.7:51234`` and, for IPv6, ``2001:db8::1:443`` (no brackets: the last colon separates
    the port); ``[2001:db8::1]:443`` is read too. The address comes back in its canonical form (so
    one viewer is one throttling key, however the address is spelt)."""
    host, sep, port = (value or "").strip().rpartition(":")
    if not sep or not port.isascii() or not port.isdigit() or int(port) > 65535:
        return None
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


_VIEWER_HEADER_STATE = "viewer_address_header"


def _hostname(authority: str) -> str:
    """``Host``/authority without its port, lower-case, IPv6 without brackets."""
    authority = authority.strip().lower()
    if authority.startswith("["):
        return authority[1 : authority.find("]")] if "]" in authority else authority
    return authority.rsplit(":", 1)[0] if authority.count(":") == 1 else authority


_SCOPE_KEY = "prism.request_id"


def request_id_of(request: Request) -> str | None:
    rid = request.scope.get(_SCOPE_KEY)
    return rid if isinstance(rid, str) else None


class RequestId:
    """Outermost: gives every request an id (the caller's ``X-Request-Id`` when plausible, else the
    Lambda invocation's, else a new one), binds it to the logs of everything the request does
    (``prism.logs.request_scope``) and returns it in ``X-Request-Id``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"x-request-id"), None)
        context = scope.get("aws.context")
        rid = logs.new_request_id(given or getattr(context, "aws_request_id", None))

        async def tagged(msg: Message) -> None:
            if msg["type"] == "http.response.start":
                msg = {**msg, "headers": [*msg.get("headers", []), (b"x-request-id", rid.encode())]}
            await send(msg)

        scope[_SCOPE_KEY] = rid  # the same dict the outer error middleware holds: see unexpected()
        with logs.request_scope(rid):
            await self.app(scope, receive, tagged)


def install_edge(
    app: FastAPI,
    *,
    hosts: list[str],
    origins: list[str],
    max_body_bytes: int,
    body_timeout_s: float,
    viewer_address_header: str = "",
) -> None:
    """Everything every API puts in front of its routes, in one order: JSON errors, body limits,
    CORS for the allowed browser origins, the request guard, and outermost the request id.
    ``viewer_address_header`` (``PRISM_VIEWER_ADDRESS_HEADER``): the header a trusted proxy puts the
    caller's address in, for ``caller_address``; empty: the connection's address."""
    setattr(app.state, _VIEWER_HEADER_STATE, viewer_address_header.strip())
    install_error_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes, read_timeout_s=body_timeout_s)
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=["Content-Type", "Authorization", "X-Prism-Token"],
        )
    app.add_middleware(RequestGuard, hosts=hosts, origins=origins)
    app.add_middleware(RequestId)
    _document_edge(app)


_ERROR_REF = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
_EDGE_ERRORS = {
    "400": "The Host header names no host this service answers to (invalid_host)",
    "403": "A state change from a page of another origin (cross_origin)",
    "408": "The request body was not received in time (request_timeout)",
    "413": "The request body is too large (payload_too_large)",
    "415": "A POST that is not application/json (unsupported_media_type)",
}


def _document_edge(app: FastAPI) -> None:
    """Declare in the OpenAPI document what the edge answers before any route: every operation may
    get a 400 for its Host; a state change also a 403, and a body 408/413; a POST a 415."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = original()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.setdefault("Error", ERROR_SCHEMA)
        for item in schema.get("paths", {}).values():
            for method, operation in item.items():
                statuses = ["400"] + (["403", "408", "413"] if method.upper() not in SAFE_METHODS else [])
                statuses += ["415"] if method.upper() == "POST" else []
                responses = operation.setdefault("responses", {})
                for status in statuses:
                    responses.setdefault(status, {"description": _EDGE_ERRORS[status], "content": _ERROR_REF})
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


# The one error shape of every API, as an OpenAPI schema.
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        }
    },
}


# Swagger UI 5.33.1 and ReDoc 2.5.4 as shipped by the fastapi-standalone-docs wheel (a dependency of
# the functions, so they are in every image and Lambda zip). Its ReDoc bundle is patched to load its
# logo from ``<page>/logo-mini.svg``, hence the ReDoc assets under ``/redoc/``.
DOCS_ASSETS = Path(fastapi_standalone_docs.__file__).resolve().parent / "static"
DOCS_URL, REDOC_URL = "/docs", "/redoc"


def install_docs(app: FastAPI) -> None:
    """Serve ``/docs`` (Swagger UI) and ``/redoc`` (ReDoc) with their scripts, styles and icons from
    this process, so they work with no outbound access. FastAPI's own pages load them from public
    CDNs: build the app with ``docs_url=None, redoc_url=None`` and call this instead.

    Assets: ``/docs/swagger-ui-bundle.js``, ``/docs/swagger-ui.css``, ``/redoc/redoc.standalone.js``,
    ``/redoc/logo-mini.svg``, ``/docs/fastapi/favicon.png``; every URL in the pages is relative to the
    request's root path (an API mounted under a prefix keeps working)."""
    if app.docs_url is not None or app.redoc_url is not None:
        raise ValueError("build the app with docs_url=None, redoc_url=None: install_docs serves both pages")
    if app.openapi_url is None:
        return
    openapi_url = app.openapi_url
    # Mounts match only below their path ("/docs/..."), so the pages at "/docs" and "/redoc" stay routes.
    app.mount(f"{DOCS_URL}/fastapi", StaticFiles(directory=DOCS_ASSETS / "fastapi"), name="docs-favicon")
    app.mount(DOCS_URL, StaticFiles(directory=DOCS_ASSETS / "swagger"), name="docs-assets")
    app.mount(REDOC_URL, StaticFiles(directory=DOCS_ASSETS / "redoc"), name="redoc-assets")

    def root(request: Request) -> str:
        return str(request.scope.get("root_path", "")).rstrip("/")

    @app.get(DOCS_URL, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        base = root(request)
        return get_swagger_ui_html(
            openapi_url=base + openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{base}{DOCS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{base}{DOCS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{base}{DOCS_URL}/fastapi/favicon.png",
            # No badge from the public validator (validator.swagger.io) under the title.
            swagger_ui_parameters={"validatorUrl": None, **(app.swagger_ui_parameters or {})},
        )

    @app.get(REDOC_URL, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        base = root(request)
        return get_redoc_html(
            openapi_url=base + openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{base}{REDOC_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{base}{DOCS_URL}/fastapi/favicon.png",
            with_google_fonts=False,
        )


def new_app(
    settings: Settings,
    *,
    title: str,
    description: str,
    max_body_bytes: int,
    version: str = "1",
    lifespan: Lifespan[FastAPI] | None = None,
    for_browsers: bool = True,
    response_class: type[JSONResponse] = JSONBody,
) -> FastAPI:
    """A FastAPI app with what every Prism API has, before its own routes and state: the API docs
    served offline (``install_docs``), the edge (``install_edge``: JSON errors, the body limit and
    ``PRISM_BODY_TIMEOUT_S``, the request guard for ``PRISM_ALLOWED_HOSTS``, the request id) and
    ``settings`` in ``app.state.settings``.

    ``for_browsers``: pages of ``PRISM_CORS_ORIGINS`` may call it (CORS) and it is reached through
    the site's proxy, so ``caller_address`` reads ``PRISM_VIEWER_ADDRESS_HEADER``; False (ingestion,
    which SDKs call directly): no CORS, and the caller is the connection's address.
    ``response_class``: how JSON answers are rendered (default: orjson)."""
    app = FastAPI(
        title=title,
        version=version,
        description=description,
        default_response_class=response_class,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    install_docs(app)
    install_edge(
        app,
        hosts=settings.trusted_hosts,
        origins=settings.cors_origin_list if for_browsers else [],
        max_body_bytes=max_body_bytes,
        body_timeout_s=settings.body_timeout_s,
        viewer_address_header=settings.viewer_address_header if for_browsers else "",
    )
    app.state.settings = settings
    return app


def app_on_first_access(namespace: dict[str, Any], name: str, service: str, build: Callable[[], FastAPI]) -> FastAPI:
    """For a module's ``__getattr__``: its ``app`` (what ``uvicorn <module>:app`` and the Lambda
    handler import) built by ``build()`` from the environment on first access and kept in
    ``namespace`` (the module's ``globals()``), with the JSON logs of ``service``
    (``prism.logs.setup_logging``); tests call ``create_app(...)`` instead. Any other name: the
    AttributeError a module raises."""
    if name != "app":
        raise AttributeError(name)
    logs.setup_logging(service)
    app = namespace["app"] = build()
    return app
