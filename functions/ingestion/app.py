"""The ingestion function: ``POST /v1/events``, the trust boundary of Prism.

Locally: ``uvicorn ingestion.app:app --port 8101``. In AWS: ``ingestion.handler.handler``.
"""

from __future__ import annotations

import hmac
import logging
import zlib
from typing import Annotated, Any

import orjson
from fastapi import FastAPI, Header, Request
from prism.config import Settings, get_settings
from prism.errors import (
    BadRequestError,
    ConfigError,
    PayloadTooLargeError,
    PrismError,
    UnauthorizedError,
    UnavailableError,
    UnsupportedMediaTypeError,
    ValidationFailedError,
)
from prism.events import EventBatch, InferenceEvent
from prism.http import JSONBody, error_body, install_docs, install_error_handlers
from prism.ingest import Ingestor, IngestResult
from pydantic import BaseModel, ValidationError

log = logging.getLogger("prism.ingestion")

_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
_ACCEPTED = {"type": "integer", "minimum": 1, "description": "Events accepted and published"}
_REJECTED = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["index", "id", "errors"],
        "properties": {
            "index": {"type": "integer", "description": "Position of the event in the batch"},
            "id": {"type": ["string", "null"]},
            "errors": {"type": "array", "items": {"type": "string"}},
        },
    },
}


def _json(properties: dict[str, Any]) -> dict[str, Any]:
    schema = {"type": "object", "required": list(properties), "properties": properties}
    return {"application/json": {"schema": schema}}


def _read_limit(body: bytes, encoding: str, limit: int) -> bytes:
    if encoding in ("", "identity"):
        return body
    if encoding != "gzip":
        raise UnsupportedMediaTypeError(f"Content-Encoding '{encoding}' is not supported; use gzip or none")
    inflater = zlib.decompressobj(wbits=31)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise BadRequestError(f"body is not valid gzip: {exc}", code="invalid_gzip") from exc
    if len(out) > limit or inflater.unconsumed_tail:
        raise PayloadTooLargeError(f"decompressed body is larger than {limit} bytes")
    return out


def _answer(result: IngestResult, sent: int) -> JSONBody:
    rejected = [{"index": r.index, "id": r.id, "errors": r.errors} for r in result.rejected]
    if result.accepted == 0:
        return JSONBody(
            error_body("validation_error", f"none of the {sent} events is valid", rejected=rejected), status_code=422
        )
    if rejected:
        return JSONBody({"accepted": result.accepted, "rejected": rejected}, status_code=207)
    return JSONBody({"accepted": result.accepted}, status_code=202)


class ValidBatch(BaseModel):
    events: list[InferenceEvent]


def create_app(settings: Settings | None = None, ingestor: Ingestor | None = None) -> FastAPI:
    settings = settings or get_settings()
    keys = [k.encode() for k in settings.api_keys]
    if not keys:
        raise ConfigError("PRISM_API_KEY is not set: the ingestion API needs at least one key")
    if ingestor is None:
        from prism.bootstrap import build_ingestor

        ingestor = build_ingestor(settings)
    limit = settings.max_request_bytes
    max_events = settings.max_events_per_request

    app = FastAPI(
        title="Prism ingestion API",
        version="1.0.0",
        description="Receives inference events (v1), validates and redacts them, and publishes them "
        "to the bus. Authenticate with `Authorization: Bearer <PRISM_API_KEY>`.",
        default_response_class=JSONBody,
        docs_url=None,
        redoc_url=None,
    )
    install_error_handlers(app)
    install_docs(app)
    app.state.ingestor = ingestor

    def authorize(header: str | None) -> None:
        scheme, _, token = (header or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise UnauthorizedError("missing bearer token: send 'Authorization: Bearer <PRISM_API_KEY>'")
        given = token.strip().encode()
        if not any(hmac.compare_digest(given, k) for k in keys):
            raise UnauthorizedError("invalid API key")

    @app.post(
        "/v1/events",
        status_code=202,
        summary="Ingest a batch of inference events",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": EventBatch.model_json_schema()}},
            }
        },
        responses={
            202: {"description": "All events accepted", "content": _json({"accepted": _ACCEPTED})},
            207: {
                "description": "Some events rejected (the others are accepted)",
                "content": _json({"accepted": _ACCEPTED, "rejected": _REJECTED}),
            },
            400: {"description": "Body is not JSON", "content": _ERROR},
            401: {"description": "Missing or invalid API key", "content": _ERROR},
            413: {"description": "More than the allowed bytes or events", "content": _ERROR},
            415: {"description": "Not JSON, or an unsupported Content-Encoding", "content": _ERROR},
            422: {"description": "No valid event in the batch", "content": _ERROR},
            503: {"description": "Bus or raw payload store unavailable; retry", "content": _ERROR},
        },
    )
    async def post_events(
        request: Request,
        authorization: Annotated[str | None, Header()] = None,
        content_type: Annotated[str | None, Header()] = None,
        content_encoding: Annotated[str | None, Header()] = None,
        content_length: Annotated[int | None, Header()] = None,
    ) -> JSONBody:
        authorize(authorization)
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
        raw = _read_limit(b"".join(chunks), (content_encoding or "").strip().lower(), limit)
        # Fast path: the whole body parsed and validated in one go (pydantic-core, no Python
        # dicts). Any problem falls through to the path that judges each event on its own.
        try:
            whole = ValidBatch.model_validate_json(raw)
        except ValidationError:
            whole = None
        if whole is not None and 0 < len(whole.events) <= max_events:
            return _answer(ingestor.ingest_valid(list(enumerate(whole.events))), len(whole.events))
        try:
            body: Any = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise BadRequestError(f"body is not valid JSON: {exc}", code="invalid_json") from exc
        if not isinstance(body, dict) or not isinstance(body.get("events"), list):
            raise ValidationFailedError('body must be an object {"events": [...]}')
        events = body["events"]
        if not events:
            raise ValidationFailedError("'events' is empty")
        if len(events) > max_events:
            raise PayloadTooLargeError(
                f"{len(events)} events in one request; the limit is {max_events}", code="too_many_events"
            )
        return _answer(ingestor.ingest(events), len(events))

    @app.get("/healthz", summary="The process is up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", summary="Bus and raw payload store reachable", responses={503: {"content": _ERROR}})
    async def readyz() -> JSONBody:
        checks: dict[str, str] = {}
        failing: list[str] = []
        for name, part in (("bus", ingestor.bus), ("raw_store", ingestor.raw_store)):
            if part is None:
                continue
            try:
                part.ping()
                checks[name] = "ok"
            except (PrismError, UnavailableError) as exc:
                checks[name] = exc.message
                failing.append(name)
        pipeline: dict[str, Any] = {}
        stats = getattr(ingestor.bus, "stats", None)
        if stats is not None and "bus" not in failing:  # writer lag, pending, dead letters, trims
            try:
                pipeline = stats(settings.writer_group)
            except UnavailableError as exc:
                pipeline = {"error": exc.message}
        if failing:
            message = f"unavailable: {', '.join(failing)}"
            body = error_body("not_ready", message, checks=checks, pipeline=pipeline)
            return JSONBody(body, status_code=503)
        return JSONBody({"status": "ok", "checks": checks, "pipeline": pipeline})

    app.openapi_schema = None
    _add_schemas(app)
    return app


def _add_schemas(app: FastAPI) -> None:
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = original()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components["Error"] = {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                }
            },
        }
        components["InferenceEventV1"] = InferenceEvent.model_json_schema(ref_template="#/components/schemas/{model}")
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def __getattr__(name: str) -> Any:
    # ``uvicorn ingestion.app:app`` builds the app on first access, from the environment.
    if name == "app":
        globals()["app"] = create_app()
        return globals()["app"]
    raise AttributeError(name)
