"""HTTP edge shared by the FastAPI functions: one error shape, one handler per error kind."""

from __future__ import annotations

import logging

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from prism.errors import PrismError

log = logging.getLogger(__name__)


class JSONBody(JSONResponse):
    """JSON response rendered with orjson."""

    def render(self, content: object) -> bytes:
        return orjson.dumps(content)


def error_body(code: str, message: str, **extra: object) -> dict[str, object]:
    return {"error": {"code": code, "message": message, **extra}}


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
        code = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}.get(exc.status_code, "http_error")
        return JSONBody(
            error_body(code, str(exc.detail)), status_code=exc.status_code, headers=getattr(exc, "headers", None)
        )

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, exc: Exception) -> JSONBody:
        log.exception("unhandled error")
        return JSONBody(error_body("internal_error", "internal error"), status_code=500)
