from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response
from prism.auth import AUTH_RESPONSES, Admin

from identity.deps import IdentityDep
from identity.schemas import InviteIn, InviteOut, UserOut, UserPatch
from identity.service import invite_out, user_out

router = APIRouter(tags=["users"], responses=AUTH_RESPONSES)


@router.get("/api/users")
async def list_users(me: Admin, identity: IdentityDep) -> list[UserOut]:
    return [user_out(u) for u in await identity.list_users(me)]


@router.post("/api/users", status_code=201)
async def invite_user(body: InviteIn, me: Admin, identity: IdentityDep) -> InviteOut:
    """Invite a user: a one-time link (``method=link``) or a temporary password they must change
    (``method=password``); either is shown only in this answer."""
    invitation = await identity.invite_user(me, body.email, body.role, name=body.name, method=body.method)
    return invite_out(invitation, identity)


@router.patch("/api/users/{user_id}")
async def update_user(user_id: UUID, body: UserPatch, me: Admin, identity: IdentityDep) -> UserOut:
    """Change a user's role, name, or disable them (which ends their sessions). The last active admin
    stays an admin (409 ``last_admin``)."""
    return user_out(await identity.update_user(me, user_id, role=body.role, disabled=body.disabled, name=body.name))


@router.delete("/api/users/{user_id}", status_code=204)
async def delete_user(user_id: UUID, me: Admin, identity: IdentityDep) -> Response:
    await identity.delete_user(me, user_id)
    return Response(status_code=204)
