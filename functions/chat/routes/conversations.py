from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Body, Header, Query, Response
from prism.auth import AUTH_RESPONSES
from starlette.responses import StreamingResponse

from chat.deps import ChatMember, ChatViewer, ServiceDep, TurnAllowed, owner
from chat.schemas import (
    CancelResult,
    ConversationDetail,
    ConversationOut,
    ConversationPage,
    CreateConversation,
    MessageOut,
    RenameConversation,
    SendMessage,
    error_responses,
    follow_doc,
    sse_doc,
)
from chat.sse import SSE_HEADERS, TurnStreamResponse

# Each caller sees only their own conversations: another user's answers 404, as one that does not exist.
router = APIRouter(prefix="/api/conversations", tags=["conversations"], responses=AUTH_RESPONSES)


@router.get("", response_model=ConversationPage, responses=error_responses(422, 503))
async def list_conversations(
    me: ChatViewer,
    service: ServiceDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 30,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> ConversationPage:
    """Your conversations, most recently active first; follow ``next_cursor`` for older ones."""
    items, next_cursor = await service.list_conversations(limit, cursor, owner=owner(me))
    return ConversationPage(items=[ConversationOut.of(c) for c in items], next_cursor=next_cursor)


@router.post("", response_model=ConversationOut, status_code=201, responses=error_responses(400, 422, 503))
async def create_conversation(
    me: ChatMember, service: ServiceDep, body: Annotated[CreateConversation | None, Body()] = None
) -> ConversationOut:
    conv = await service.create_conversation(body.title if body else None, owner=owner(me))
    return ConversationOut.of(conv)


@router.get("/{conversation_id}", response_model=ConversationDetail, responses=error_responses(404, 422, 503))
async def get_conversation(me: ChatViewer, conversation_id: UUID, service: ServiceDep) -> ConversationDetail:
    """One conversation with its messages in order."""
    conv, messages = await service.get_conversation(conversation_id, owner=owner(me))
    return ConversationDetail(**ConversationOut.of(conv).model_dump(), messages=[MessageOut.of(m) for m in messages])


@router.patch("/{conversation_id}", response_model=ConversationOut, responses=error_responses(400, 404, 422, 503))
async def rename_conversation(
    me: ChatMember, conversation_id: UUID, body: RenameConversation, service: ServiceDep
) -> ConversationOut:
    return ConversationOut.of(await service.rename_conversation(conversation_id, body.title, owner=owner(me)))


@router.delete("/{conversation_id}", status_code=204, responses=error_responses(404, 422, 503))
async def delete_conversation(me: ChatMember, conversation_id: UUID, service: ServiceDep) -> Response:
    await service.delete_conversation(conversation_id, owner=owner(me))
    return Response(status_code=204)


@router.post(
    "/{conversation_id}/messages",
    response_class=TurnStreamResponse,
    status_code=200,
    responses=sse_doc(),
    dependencies=[TurnAllowed],
)
async def send_message(
    me: ChatMember, conversation_id: UUID, body: SendMessage, service: ServiceDep
) -> TurnStreamResponse:
    """Send a message and stream the reply as server-sent events.

    The user message is stored first; the reply is stored when it ends, with its status
    (``complete``, ``cancelled`` with its partial text, or ``error``). Closing the stream does not
    stop the reply (``POST .../cancel`` does): follow it again with ``GET .../messages/{id}/stream``.
    """
    turn = await service.start_turn(conversation_id, body.content, body.model, owner=owner(me))
    return TurnStreamResponse(turn)


@router.get(
    "/{conversation_id}/messages/{message_id}/stream",
    response_class=StreamingResponse,
    status_code=200,
    responses=follow_doc(),
)
async def follow_reply(
    me: ChatViewer,
    conversation_id: UUID,
    message_id: UUID,
    service: ServiceDep,
    offset: Annotated[int | None, Query(ge=0, description="Characters of the reply already received")] = None,
    last_event_id: Annotated[str | None, Header(max_length=20)] = None,
) -> StreamingResponse:
    """Follow a reply as server-sent events: its text so far, then the rest as it is written, to its
    ``done`` or ``error`` (at once for a reply that has ended). Resume from ``offset`` or from the
    ``Last-Event-ID`` of the last event received."""
    if offset is None:
        offset = int(last_event_id) if last_event_id and last_event_id.isdigit() else 0
    events = await service.follow_reply(conversation_id, message_id, offset, owner=owner(me))
    return StreamingResponse(events, media_type="text/event-stream", headers=SSE_HEADERS)


@router.post("/{conversation_id}/cancel", response_model=CancelResult, responses=error_responses(404, 422, 503))
async def cancel(me: ChatMember, conversation_id: UUID, service: ServiceDep) -> CancelResult:
    """Stop the reply being streamed in this conversation (for clients that cannot abort a request)."""
    ids = await service.cancel(conversation_id, owner=owner(me))
    return CancelResult(cancelled=bool(ids), message_ids=ids)
