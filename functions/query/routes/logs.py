from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query
from prism.auth import AUTH_RESPONSES, Viewer
from prism.cursor import decode_cursor
from prism.read import LogQuery

from query.deps import CommonDep, ServiceDep, Text
from query.schemas import LogDetail, LogsPage

router = APIRouter(tags=["logs"], responses=AUTH_RESPONSES)


@router.get("/api/logs")
async def logs(
    me: Viewer,
    service: ServiceDep,
    common: CommonDep,
    conversation_id: Text | None = None,
    trace_id: Text | None = None,
    user_id: Text | None = None,
    tag: Text | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> LogsPage:
    """Inference events, newest first; follow ``next_cursor`` for older ones."""
    w = service.logs_window(common.start, common.end)
    q = LogQuery(
        start=w.start,
        end=w.end,
        filters=common.filters,
        conversation_id=conversation_id,
        trace_id=trace_id,
        user_id=user_id,
        tag=tag,
        before=decode_cursor(cursor) if cursor else None,
        limit=limit,
    )
    return await service.logs(q)


@router.get("/api/logs/{log_id}")
async def log(me: Viewer, log_id: UUID, service: ServiceDep) -> LogDetail:
    """One event: every stored field, its tool calls, and its request/response payload, wherever it
    is kept (inline, or in the raw payload store)."""
    return await service.log(log_id)
