from __future__ import annotations

from fastapi import APIRouter
from prism.errors import PrismError
from prism.http import JSONBody, error_body
from starlette.concurrency import run_in_threadpool

from chat.routes.deps import ServiceDep
from chat.schemas import error_responses

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", responses=error_responses(503, s503="The app database is unreachable"))
async def readyz(service: ServiceDep) -> JSONBody:
    """The app database is reachable (503 naming the failing part otherwise)."""
    try:
        await run_in_threadpool(service.store.ping)
    except PrismError as exc:
        return JSONBody(error_body("not_ready", f"database: {exc.message}"), status_code=503)
    return JSONBody({"status": "ready"})
