from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request
from prism.errors import PayloadTooLargeError, UnsupportedMediaTypeError
from prism.events import EventBatch
from prism.http import JSONBody

from ingestion.deps import ServiceDep, authorize
from ingestion.schemas import ERROR, Accepted, PartiallyAccepted

router = APIRouter()


@router.post(
    "/v1/events",
    status_code=202,
    summary="Ingest a batch of inference events",
    response_model=Accepted,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": EventBatch.model_json_schema()}},
        }
    },
    responses={
        202: {"description": "All events accepted"},
        207: {"model": PartiallyAccepted, "description": "Some events rejected (the others are accepted)"},
        400: {"description": "Body is not JSON", "content": ERROR},
        401: {"description": "Missing or invalid API key", "content": ERROR},
        413: {"description": "More than the allowed bytes or events", "content": ERROR},
        415: {"description": "Not JSON, or an unsupported Content-Encoding", "content": ERROR},
        429: {"description": "Too many failed authentications or requests; see Retry-After", "content": ERROR},
        422: {"description": "No valid event in the batch", "content": ERROR},
        503: {"description": "Bus or raw payload store unavailable; retry", "content": ERROR},
    },
)
async def post_events(
    request: Request,
    service: ServiceDep,
    authorization: Annotated[str | None, Header()] = None,
    content_type: Annotated[str | None, Header()] = None,
    content_encoding: Annotated[str | None, Header()] = None,
    content_length: Annotated[int | None, Header()] = None,
) -> JSONBody:
    project = await authorize(request, authorization)  # the key's, never the body's
    limit = service.limit
    media = (content_type or "").split(";")[0].strip().lower()
    if media != "application/json":
        raise UnsupportedMediaTypeError(f"Content-Type must be application/json, not '{media or 'none'}'")
    if content_length is not None and content_length > limit:
        raise PayloadTooLargeError(f"body is {content_length} bytes; the limit is {limit}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(f"body is larger than {limit} bytes")
        chunks.append(chunk)
    encoding = (content_encoding or "").strip().lower()
    return await service.ingest(b"".join(chunks), encoding, project)
