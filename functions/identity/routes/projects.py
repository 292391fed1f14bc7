from __future__ import annotations

from fastapi import APIRouter, Response
from prism.auth import AUTH_RESPONSES, Admin, Viewer

from identity.deps import IdentityDep
from identity.schemas import ChatProject, ProjectIn, ProjectOut, ProjectPatch, Slug
from identity.service import project_out

router = APIRouter(tags=["projects"], responses=AUTH_RESPONSES)


@router.get("/api/projects")
async def list_projects(me: Viewer, identity: IdentityDep) -> list[ProjectOut]:
    """Every project (any signed-in user: the project switcher)."""
    return [project_out(p) for p in await identity.list_projects()]


@router.post("/api/projects", status_code=201)
async def create_project(body: ProjectIn, me: Admin, identity: IdentityDep) -> ProjectOut:
    return project_out(await identity.create_project(me, body.slug, body.name))


@router.patch("/api/projects/{slug}")
async def rename_project(slug: Slug, body: ProjectPatch, me: Admin, identity: IdentityDep) -> ProjectOut:
    return project_out(await identity.rename_project(me, slug, body.name))


@router.delete("/api/projects/{slug}", status_code=204)
async def delete_project(slug: Slug, me: Admin, identity: IdentityDep) -> Response:
    """Delete a project and its ingestion keys (its events stay). Not ``default`` nor the chat's
    project (409 ``project_in_use``)."""
    await identity.delete_project(me, slug)
    return Response(status_code=204)


@router.get("/api/config/chat-project")
async def get_chat_project(me: Viewer, identity: IdentityDep) -> ChatProject:
    """The project the chat's own events go to."""
    return ChatProject(project=await identity.chat_project())


@router.put("/api/config/chat-project")
async def set_chat_project(body: ChatProject, me: Admin, identity: IdentityDep) -> ChatProject:
    return ChatProject(project=await identity.set_chat_project(me, body.project))
