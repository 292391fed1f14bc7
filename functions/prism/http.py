"""HTTP edge shared by the FastAPI functions: one error shape, one handler per error kind, the API
docs served from the package (no CDN)."""

from __future__ import annotations

import logging
from pathlib import Path

import fastapi_standalone_docs
import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import HTMLResponse, JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from prism.errors import PrismError

log = logging.getLogger(__name__)


class JSONBody(JSONResponse):
    """JSON response rendered with orjson."""

    def render(self, content: object) -> bytes:
        return orjson.dumps(content)


def error_body(code: str, message: str, **extra: object) -> dict[str, object]:
    return {"error": {"code": code, "message": message, **extra}}


_HTTP_CODES = {401: "unauthorized", 404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(PrismError)
    async def prism_error(_request: Request, exc: PrismError) -> JSONBody:
        if exc.status >= 500:
            log.warning("%s: %s", exc.code, exc.message)
        headers = {"Retry-After": "1"} if exc.status == 503 else None
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
    async def unexpected(_request: Request, exc: Exception) -> JSONBody:
        log.exception("unhandled error")
        return JSONBody(error_body("internal_error", "internal error"), status_code=500)


class BodyLimit:
    """ASGI middleware: a request body over ``max_bytes`` gets a 413 JSON error before the app reads
    it (by ``Content-Length``, or by counting as a chunked body arrives)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes
        message = f"the request body is over {limit:,} bytes"
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            await _send_413(send, message)
            return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > limit:
                    raise _TooLarge(message)
            return msg

        async def tracked(msg: Message) -> None:
            nonlocal started
            started = started or msg["type"] == "http.response.start"
            await send(msg)

        try:
            await self.app(scope, counted, tracked)
        except _TooLarge:
            if not started:
                await _send_413(send, message)


class _TooLarge(StarletteHTTPException):
    """An HTTPException, so that the app's body parsing passes it on as the 413 it is."""

    def __init__(self, message: str) -> None:
        super().__init__(status_code=413, detail=message)


async def _send_413(send: Send, message: str) -> None:
    body = orjson.dumps(error_body("payload_too_large", message))
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})


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
