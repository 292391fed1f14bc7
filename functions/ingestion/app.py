"""The ingestion function: ``POST /v1/events``, the trust boundary of Prism.

Locally: ``uvicorn ingestion.app:app --port 8101``. In AWS: ``ingestion.handler.handler``.

Nothing that blocks runs on the event loop: a request's body is read on the loop, then inflating,
validating, redacting, offloading and publishing run in a worker thread (at most
``INGEST_THREADS`` at a time), and the readiness probes run in threads of their own with a
deadline, so a hung Redis or S3 never stalls ``/healthz`` or another request's I/O.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import zlib
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import anyio
import anyio.to_thread
from fastapi import FastAPI, Header, Request
from prism.config import Settings, get_settings
from prism.errors import (
    BadRequestError,
    ConfigError,
    PayloadTooLargeError,
    PrismError,
    UnauthorizedError,
    UnsupportedMediaTypeError,
    ValidationFailedError,
)
from prism.events import EventBatch, InferenceEvent
from prism.http import JSONBody, caller_address, error_body, install_docs, install_edge
from prism.ingest import Ingestor, IngestResult
from prism.ratelimit import RateLimiter
from pydantic import BaseModel, ValidationError

log = logging.getLogger("prism.ingestion")

INGEST_THREADS = 16  # requests being validated, redacted and published at once (the rest wait their turn)
READY_THREADS = 8  # readiness probes in flight; a probe that hangs keeps its thread until its socket times out
READY_TIMEOUT_S = 2.0  # a dependency that has not answered by then is reported as not answering
T = TypeVar("T")

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
    ingest_limiter = anyio.CapacityLimiter(INGEST_THREADS)
    ready_limiter = anyio.CapacityLimiter(READY_THREADS)

    app = FastAPI(
        title="Prism ingestion API",
        version="1.0.0",
        description="Receives inference events (v1), validates and redacts them, and publishes them "
        "to the bus. Authenticate with `Authorization: Bearer <PRISM_API_KEY>`.",
        default_response_class=JSONBody,
        docs_url=None,
        redoc_url=None,
    )
    install_edge(
        app, hosts=settings.trusted_hosts, origins=[], max_body_bytes=limit, body_timeout_s=settings.body_timeout_s
    )
    install_docs(app)
    app.state.ingestor = ingestor
    limiter = RateLimiter(
        settings.rate_limit_storage,
        {"auth_failures": settings.rate_limit_auth_failures, "ingest": settings.rate_limit_ingest},
        key_prefix=f"{settings.stream}:ratelimit",  # beside the stream it guards
    )

    async def authorize(request: Request, header: str | None) -> None:
        """The bearer key, with rate limits: an address (or a presented key) past its failed
        attempts is refused before its key is looked at; a valid key gets its requests' share."""
        address = caller_address(request)
        await limiter.check("auth_failures", "address", address, what="failed authentications")
        scheme, _, token = (header or "").partition(" ")
        given = token.strip().encode()
        presented = hashlib.sha256(given).hexdigest()[:24]  # counters never hold a key
        if scheme.lower() != "bearer" or not given:
            await limiter.hit("auth_failures", "address", address, what="failed authentications")
            raise UnauthorizedError("missing bearer token: send 'Authorization: Bearer <PRISM_API_KEY>'")
        if not any(hmac.compare_digest(given, k) for k in keys):
            await limiter.check("auth_failures", "key", presented, what="failed authentications")
            await limiter.hit("auth_failures", "address", address, what="failed authentications")
            await limiter.hit("auth_failures", "key", presented, what="failed authentications")
            raise UnauthorizedError("invalid API key")
        await limiter.hit("ingest", "key", presented, what="ingestion requests for this key")

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
            429: {"description": "Too many failed authentications or requests; see Retry-After", "content": _ERROR},
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
        await authorize(request, authorization)
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
        body = b"".join(chunks)
        return await anyio.to_thread.run_sync(accept, body, encoding, limiter=ingest_limiter)

    def accept(body: bytes, encoding: str) -> JSONBody:
        """Inflate, validate, redact, offload, publish: CPU and blocking I/O, run in a worker thread."""
        raw = _read_limit(body, encoding, limit)
        # Fast path: the whole body parsed and validated in one go (pydantic-core, no Python
        # dicts). Any problem falls through to the path that judges each event on its own.
        try:
            whole = ValidBatch.model_validate_json(raw)
        except ValidationError:
            whole = None
        if whole is not None and 0 < len(whole.events) <= max_events:
            return _answer(ingestor.ingest_valid(list(enumerate(whole.events))), len(whole.events))
        try:
            # The standard parser keeps what orjson would bend (integers beyond 64 bits become
            # floats) and what pydantic-core's refuses whole (nesting past 200): the contract then
            # judges each event on its own and says where a value cannot be stored.
            parsed: Any = json.loads(raw)
        except RecursionError as exc:
            raise BadRequestError("body is nested too deeply to parse", code="invalid_json") from exc
        except ValueError as exc:
            raise BadRequestError(f"body is not valid JSON: {exc}", code="invalid_json") from exc
        if not isinstance(parsed, dict) or not isinstance(parsed.get("events"), list):
            raise ValidationFailedError('body must be an object {"events": [...]}')
        events = parsed["events"]
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

    async def probe(call: Callable[[], T]) -> tuple[T | None, str | None]:
        """``call()`` in a thread, with a deadline: (its result, None) or (None, why it failed)."""
        try:
            with anyio.fail_after(READY_TIMEOUT_S):
                return await anyio.to_thread.run_sync(call, abandon_on_cancel=True, limiter=ready_limiter), None
        except TimeoutError:
            return None, f"no answer within {READY_TIMEOUT_S:g} s"
        except PrismError as exc:
            return None, exc.message

    @app.get(
        "/readyz",
        summary="Bus and raw payload store reachable; the pipeline behind them flowing",
        description="503 when the bus or the raw payload store cannot be reached (this instance cannot "
        "accept events). 200 with `status: degraded` and the reasons in `degraded` when events are accepted "
        "but the writer is missing or stalled (they wait on the bus): taking this instance out of a load "
        "balancer would not help. `?strict=true` answers 503 in that case too, for monitors that read only "
        "the status code.",
        responses={503: {"content": _ERROR}},
    )
    async def readyz(strict: bool = False) -> JSONBody:
        parts: dict[str, Any] = {"bus": ingestor.bus}
        if ingestor.raw_store is not None:
            parts["raw_store"] = ingestor.raw_store
        stats = getattr(ingestor.bus, "stats", None)
        answers: dict[str, tuple[Any, str | None]] = {}

        async def run(name: str, call: Callable[[], Any]) -> None:
            answers[name] = await probe(call)

        async with anyio.create_task_group() as tg:
            for name, part in parts.items():
                tg.start_soon(run, name, part.ping)
            if stats is not None:  # writer lag, pending, consumers, dead letters, trims, memory
                tg.start_soon(run, "pipeline", lambda: stats(settings.writer_group))
        checks = {name: answers[name][1] or "ok" for name in parts}
        failing = [name for name in parts if answers[name][1] is not None]
        pipeline: dict[str, Any] = {}
        if stats is not None and "bus" not in failing:
            figures, error = answers["pipeline"]
            pipeline = {"error": error} if error is not None else dict(figures)
        if failing:
            message = f"unavailable: {', '.join(failing)}"
            body = error_body("not_ready", message, checks=checks, pipeline=pipeline)
            return JSONBody(body, status_code=503)
        problems = pipeline_problems(pipeline, settings) if stats is not None else []
        if problems and strict:
            body = error_body("pipeline_degraded", "; ".join(problems), checks=checks, pipeline=pipeline)
            return JSONBody({**body, "degraded": problems}, status_code=503)
        if problems:
            return JSONBody({"status": "degraded", "degraded": problems, "checks": checks, "pipeline": pipeline})
        return JSONBody({"status": "ok", "checks": checks, "pipeline": pipeline})

    app.openapi_schema = None
    _add_schemas(app)
    return app


def pipeline_problems(figures: dict[str, Any], settings: Settings) -> list[str]:
    """Why the pipeline behind the bus is not flowing (empty: it is), from the bus's figures."""
    group, stream = settings.writer_group, settings.stream
    if "error" in figures:
        return [f"pipeline figures unavailable: {figures['error']}"]
    if not figures.get("group"):
        return [f"no writer: consumer group '{group}' does not exist on stream '{stream}' (the writer never started)"]
    if not figures.get("consumers"):
        return [f"no writer: consumer group '{group}' has no consumers"]
    idle_s = (figures.get("consumer_idle_ms") or 0) / 1000.0
    limit = settings.writer_stalled_after_s
    if idle_s <= limit:
        return []
    waiting = []
    if figures.get("pending"):
        waiting.append(f"{figures['pending']} entries pending (read, not acknowledged)")
    if figures.get("lag"):
        waiting.append(f"{figures['lag']}{'' if figures.get('lag_exact', True) else '+'} entries not yet delivered")
    quiet = f"no consumer of '{group}' has been active for {idle_s:.0f} s (PRISM_WRITER_STALLED_AFTER_S={limit:g})"
    if waiting:
        return [f"writer stalled: {' and '.join(waiting)}, and {quiet}"]
    return [f"writer gone: {quiet}"]


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
