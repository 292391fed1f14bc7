from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from prism.errors import PrismError
from prism.http import JSONBody, error_body, without_addresses
from starlette.concurrency import run_in_threadpool

from chat.deps import ServiceDep
from chat.schemas import error_responses
from chat.sdk import EventDelivery

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    responses=error_responses(
        422, 503, s503="The app database is unreachable (or, with ?strict=true, the chat's events are degraded)"
    ),
)
async def readyz(request: Request, service: ServiceDep, strict: bool = False) -> JSONBody:
    """503 ``not_ready`` naming the part when the app database is unreachable. 200 ``status:
    degraded``, with the reasons in ``degraded``, when the chat serves but its own inference events do
    not reach the ingestion API (unreachable, refusing them, or events stuck in the spool): taking
    the chat out of a load balancer would not help, its turns wait in the spool. ``?strict=true``
    answers 503 ``events_degraded`` then, for monitors that read only the status code. ``events``
    holds prism-sdk's figures."""
    try:
        await run_in_threadpool(service.store.ping)
    except PrismError as exc:
        # /readyz answers anyone: it names the part, not where it is (the log has the driver's message).
        log.warning("readiness: database: %s", exc.message)
        return JSONBody(error_body("not_ready", f"database: {without_addresses(exc.message)}"), status_code=503)
    checks = {"database": "ok"}
    figures: dict[str, object] = {}
    problems: list[str] = []
    delivery: EventDelivery | None = getattr(request.app.state, "events", None)
    if delivery is not None:
        problem, figures = await run_in_threadpool(delivery.check)
        checks["events"] = problem or "ok"
        if problem:
            problems.append(f"events: {problem}")
    if problems and strict:
        body = error_body("events_degraded", "; ".join(problems), checks=checks, events=figures)
        return JSONBody({**body, "degraded": problems}, status_code=503)
    if problems:
        return JSONBody({"status": "degraded", "degraded": problems, "checks": checks, "events": figures})
    return JSONBody({"status": "ready", "checks": checks, **({"events": figures} if delivery is not None else {})})
