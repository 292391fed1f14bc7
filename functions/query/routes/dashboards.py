from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response

from query.deps import DashboardsDep
from query.schemas import DashboardIn, DashboardOut

router = APIRouter(tags=["dashboards"])


@router.get("/api/dashboards")
async def list_dashboards(dashboards: DashboardsDep) -> list[DashboardOut]:
    """Saved dashboards, most recently changed first."""
    return await dashboards.list()


@router.post("/api/dashboards", status_code=201)
async def create_dashboard(body: DashboardIn, dashboards: DashboardsDep) -> DashboardOut:
    return await dashboards.create(body)


@router.get("/api/dashboards/{dashboard_id}")
async def get_dashboard(dashboard_id: UUID, dashboards: DashboardsDep) -> DashboardOut:
    return await dashboards.get(dashboard_id)


@router.put("/api/dashboards/{dashboard_id}")
async def replace_dashboard(dashboard_id: UUID, body: DashboardIn, dashboards: DashboardsDep) -> DashboardOut:
    return await dashboards.replace(dashboard_id, body)


@router.delete("/api/dashboards/{dashboard_id}", status_code=204)
async def delete_dashboard(dashboard_id: UUID, dashboards: DashboardsDep) -> Response:
    await dashboards.delete(dashboard_id)
    return Response(status_code=204)
