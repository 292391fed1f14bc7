from __future__ import annotations

from fastapi import APIRouter

from identity.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> Health:
    return Health(status="ok")
