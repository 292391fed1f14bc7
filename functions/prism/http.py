"""HTTP edge shared by the FastAPI functions: one error shape, one handler per error kind."""

from __future__ import annotations

import logging

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse
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
