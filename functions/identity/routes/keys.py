from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response
from prism.auth import AUTH_RESPONSES, Admin

from identity.deps import IdentityDep
from identity.schemas import KeyCreated, KeyIn, KeyOut
from identity.service import key_created, key_out

router = APIRouter(tags=["keys"], responses=AUTH_RESPONSES)


@router.get("/api/keys")
async def list_keys(me: Admin, identity: IdentityDep) -> list[KeyOut]:
    """Every ingestion key and read token, newest first (prefixes only: a key is never shown again)."""
    now = identity.clock()
    return [key_out(k, now) for k in await identity.list_keys(me)]


@router.post("/api/keys", status_code=201)
async def create_key(body: KeyIn, me: Admin, identity: IdentityDep) -> KeyCreated:
    """A new ingestion key (``kind=ingest``: writes events to ``project``) or personal read token
    (``kind=read``: the query API as ``user_id``, reading only). ``token`` is in this answer only."""
    key, token = await identity.create_key(
        me, body.kind, body.name, project=body.project, user_id=body.user_id, expires_at=body.expires_at
    )
    return key_created(key, token, identity.clock())


@router.delete("/api/keys/{key_id}", status_code=204)
async def revoke_key(key_id: UUID, me: Admin, identity: IdentityDep) -> Response:
    """Revoke a key: it stops working at once (ingestion's cache forgets it within 30 s)."""
    await identity.revoke_key(me, key_id)
    return Response(status_code=204)
