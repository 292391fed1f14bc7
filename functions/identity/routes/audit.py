from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from prism.auth import AUTH_RESPONSES, Admin

from identity.deps import IdentityDep
from identity.schemas import AuditPageOut
from identity.service import audit_out

router = APIRouter(tags=["audit"], responses=AUTH_RESPONSES)


@router.get("/api/audit")
async def audit(
    me: Admin,
    identity: IdentityDep,
    cursor: Annotated[str | None, Query(max_length=20)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    action: Annotated[list[str] | None, Query(max_length=20, description="Only these actions")] = None,
) -> AuditPageOut:
    """Security-relevant actions, newest first: sign-ins and failures, sign-outs, user, role, key,
    provider, project and settings changes. Follow ``next_cursor`` for older entries."""
    page = await identity.audit_page(me, cursor=cursor, limit=limit, actions=action or ())
    return AuditPageOut(items=[audit_out(e) for e in page.items], next_cursor=page.next_cursor)
