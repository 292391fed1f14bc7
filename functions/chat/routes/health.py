from __future__ import annotations

from fastapi import APIRouter, Request
from prism.errors import PrismError
from prism.http import JSONBody, error_body
from starlette.concurrency import run_in_threadpool

from chat.routes.deps import ServiceDep
from chat.schemas import error_responses
from chat.sdk import EventDelivery

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", responses=error_responses(503, s503="The app database is unreachable"))
async def readyz(request: Request, service: ServiceDep) -> JSONBody:
    """The app database is reachable (503 naming the failing part otherwise), and the chat's own
    inference events reach the ingestion API: when they cannot (the API unreachable or refusing
    them, events stuck in the spool), the answer is still 200, so the chat keeps serving, with
    ``status: degraded`` and the reasons; ``events`` holds prism-sdk's figures."""
    try:
        await run_in_threadpool(service.store.ping)
    except PrismError as exc:
        return JSONBody(error_body("not_ready", f"database: {exc.message}"), status_code=503)
    checks = {"database": "ok"}
    body: dict[str, object] = {"status": "ready", "checks": checks}
    delivery: EventDelivery | None = getattr(request.app.state, "events", None)
    if delivery is not None:
        problem, figures = await run_in_threadpool(delivery.check)
        checks["events"] = problem or "ok"
        body["events"] = figures
        if problem:
            body["status"] = "degraded"
            body["reasons"] = [f"events: {problem}"]
    return JSONBody(body)
