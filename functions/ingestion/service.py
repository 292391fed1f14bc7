"""The ingestion function's logic: a request body to published events, and readiness.

Nothing that blocks runs on the event loop: inflating, validating, redacting, offloading and
publishing run in a worker thread (at most ``INGEST_THREADS`` at a time), and the readiness probes
run in threads of their own with a deadline, so a hung Redis or S3 never stalls ``/healthz`` or
another request's I/O.
"""

from __future__ import annotations

import json
import logging
import zlib
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from prism.config import Settings
from prism.errors import (
    BadRequestError,
    PayloadTooLargeError,
    PrismError,
    UnsupportedMediaTypeError,
    ValidationFailedError,
)
from prism.http import JSONBody, error_body, without_addresses
from prism.ingest import Ingestor, IngestResult
from prism.records import DEFAULT_PROJECT
from pydantic import ValidationError

from ingestion.schemas import ValidBatch

INGEST_THREADS = 16  # requests being validated, redacted and published at once (the rest wait their turn)
READY_THREADS = 8  # readiness probes in flight; a probe that hangs keeps its thread until its socket times out
READY_TIMEOUT_S = 2.0  # a dependency that has not answered by then is reported as not answering
T = TypeVar("T")
log = logging.getLogger(__name__)


def read_limit(body: bytes, encoding: str, limit: int) -> bytes:
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


def answer(result: IngestResult, sent: int) -> JSONBody:
    rejected = [{"index": r.index, "id": r.id, "errors": r.errors} for r in result.rejected]
    if result.accepted == 0:
        return JSONBody(
            error_body("validation_error", f"none of the {sent} events is valid", rejected=rejected), status_code=422
        )
    if rejected:
        return JSONBody({"accepted": result.accepted, "rejected": rejected}, status_code=207)
    return JSONBody({"accepted": result.accepted}, status_code=202)


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


class IngestionService:
    """A body to the ingestor's answer, off the event loop; the readiness of the parts behind it."""

    def __init__(self, settings: Settings, ingestor: Ingestor) -> None:
        self.settings = settings
        self.ingestor = ingestor
        self.limit = settings.max_request_bytes
        self.max_events = settings.max_events_per_request
        self._ingest_limiter = anyio.CapacityLimiter(INGEST_THREADS)
        self._ready_limiter = anyio.CapacityLimiter(READY_THREADS)

    async def ingest(self, body: bytes, encoding: str, project: str = DEFAULT_PROJECT) -> JSONBody:
        return await anyio.to_thread.run_sync(self.accept, body, encoding, project, limiter=self._ingest_limiter)

    def accept(self, body: bytes, encoding: str, project: str = DEFAULT_PROJECT) -> JSONBody:
        """Inflate, validate, redact, offload, publish: CPU and blocking I/O, run in a worker thread.
        Every event is stamped with ``project``, the sending key's (a ``project`` field in the body is
        no part of the contract: an event with one is rejected, one beside ``events`` is ignored)."""
        raw = read_limit(body, encoding, self.limit)
        # Fast path: the whole body parsed and validated in one go (pydantic-core, no Python
        # dicts). Any problem falls through to the path that judges each event on its own.
        try:
            whole = ValidBatch.model_validate_json(raw)
        except ValidationError:
            whole = None
        if whole is not None and 0 < len(whole.events) <= self.max_events:
            accepted = self.ingestor.ingest_valid(list(enumerate(whole.events)), project=project)
            return answer(accepted, len(whole.events))
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
        if len(events) > self.max_events:
            raise PayloadTooLargeError(
                f"{len(events)} events in one request; the limit is {self.max_events}", code="too_many_events"
            )
        return answer(self.ingestor.ingest(events, project=project), len(events))

    async def probe(self, call: Callable[[], T]) -> tuple[T | None, str | None]:
        """``call()`` in a thread, with a deadline: (its result, None) or (None, why it failed)."""
        try:
            with anyio.fail_after(READY_TIMEOUT_S):
                return await anyio.to_thread.run_sync(call, abandon_on_cancel=True, limiter=self._ready_limiter), None
        except TimeoutError:
            return None, f"no answer within {READY_TIMEOUT_S:g} s"
        except PrismError as exc:
            log.warning("readiness: %s", exc.message)
            return None, without_addresses(exc.message)

    async def readiness(self, strict: bool) -> JSONBody:
        settings, ingestor = self.settings, self.ingestor
        parts: dict[str, Any] = {"bus": ingestor.bus}
        if ingestor.raw_store is not None:
            parts["raw_store"] = ingestor.raw_store
        answers: dict[str, tuple[Any, str | None]] = {}

        async def run(name: str, call: Callable[[], Any]) -> None:
            answers[name] = await self.probe(call)

        async with anyio.create_task_group() as tg:
            for name, part in parts.items():
                tg.start_soon(run, name, part.ping)
            # writer lag, pending, consumers, dead letters, trims, memory (None: the bus keeps none)
            tg.start_soon(run, "pipeline", lambda: ingestor.bus.stats(settings.writer_group))
        checks = {name: answers[name][1] or "ok" for name in parts}
        failing = [name for name in parts if answers[name][1] is not None]
        figures, error = answers["pipeline"]
        has_figures = figures is not None or error is not None
        pipeline: dict[str, Any] = {}
        if has_figures and "bus" not in failing:
            pipeline = {"error": error} if error is not None else dict(figures)
        if failing:
            message = f"unavailable: {', '.join(failing)}"
            body = error_body("not_ready", message, checks=checks, pipeline=pipeline)
            return JSONBody(body, status_code=503)
        problems = pipeline_problems(pipeline, settings) if has_figures else []
        if problems and strict:
            body = error_body("pipeline_degraded", "; ".join(problems), checks=checks, pipeline=pipeline)
            return JSONBody({**body, "degraded": problems}, status_code=503)
        if problems:
            return JSONBody({"status": "degraded", "degraded": problems, "checks": checks, "pipeline": pipeline})
        return JSONBody({"status": "ok", "checks": checks, "pipeline": pipeline})
