from __future__ import annotations

from fastapi import APIRouter
from prism.http import JSONBody

from ingestion.deps import ServiceDep
from ingestion.schemas import ERROR, Health, Readiness

router = APIRouter()


@router.get("/healthz", summary="The process is up")
async def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    summary="Bus and raw payload store reachable; the pipeline behind them flowing",
    description="503 when the bus or the raw payload store cannot be reached (this instance cannot "
    "accept events). 200 with `status: degraded` and the reasons in `degraded` when events are accepted "
    "but the writer is missing or stalled (they wait on the bus): taking this instance out of a load "
    "balancer would not help. `?strict=true` answers 503 in that case too, for monitors that read only "
    "the status code.",
    response_model=Readiness,
    responses={503: {"content": ERROR}},
)
async def readyz(service: ServiceDep, strict: bool = False) -> JSONBody:
    return await service.readiness(strict)
