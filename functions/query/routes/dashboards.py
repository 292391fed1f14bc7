from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response
from prism.auth import AUTH_RESPONSES, Member, Viewer
from prism.errors import ValidationFailedError

from query.deps import DashboardsDep, IdentityDep
from query.schemas import EVERY_PROJECT, SLUG_OR_EVERY, DashboardIn, DashboardNew, DashboardOut

router = APIRouter(tags=["dashboards"], responses=AUTH_RESPONSES)


@router.get("/api/dashboards")
async def list_dashboards(
    me: Viewer,
    dashboards: DashboardsDep,
    identity: IdentityDep,
    project: Annotated[
        str,
        Query(
            max_length=63,
            pattern=SLUG_OR_EVERY,
            description="The project's slug, or `*` for every project the caller may read",
        ),
    ] = "default",
) -> list[DashboardOut]:
    """The project's saved dashboards, most recently changed first (another project's are still
    readable by id). ``project=*``: those of every project the caller may read, which today is every
    project the identity API lists (a viewer reads all of them; the role, not the project, is what
    a route checks); a dashboard saved under a slug that is not, or no longer, a project is left out."""
    if project == EVERY_PROJECT:
        readable = [p.slug for p in await identity.list_projects()]
        return await dashboards.list_in(readable)
    return await dashboards.list(project)


@router.post("/api/dashboards", status_code=201)
async def create_dashboard(
    me: Member, body: DashboardNew, dashboards: DashboardsDep, identity: IdentityDep
) -> DashboardOut:
    """A new dashboard of a project (``default`` unless named), owned by the caller: a project the
    identity API does not list is a 422 unknown_project; a name they already use in that project
    (whatever its case) is a 409 name_taken."""
    if body.project not in {p.slug for p in await identity.list_projects()}:
        raise ValidationFailedError(f"there is no project {body.project!r}", code="unknown_project")
    return await dashboards.create(body, owner=me.user.id if me.user else None)


@router.get("/api/dashboards/{dashboard_id}")
async def get_dashboard(me: Viewer, dashboard_id: UUID, dashboards: DashboardsDep) -> DashboardOut:
    return await dashboards.get(dashboard_id)


@router.put("/api/dashboards/{dashboard_id}")
async def replace_dashboard(
    me: Member, dashboard_id: UUID, body: DashboardIn, dashboards: DashboardsDep
) -> DashboardOut:
    return await dashboards.replace(dashboard_id, body)


@router.delete("/api/dashboards/{dashboard_id}", status_code=204)
async def delete_dashboard(me: Member, dashboard_id: UUID, dashboards: DashboardsDep) -> Response:
    await dashboards.delete(dashboard_id)
    return Response(status_code=204)
