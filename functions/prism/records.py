"""What travels on the bus, and the rows the writer makes of it.

A bus record is the JSON ingestion publishes for one accepted event::

    {"v": 1, "created_at": "...", "project": "default", "redactions": {"email": 2},
     "raw_payload_uri": null | "s3://...",
     "event": {...redacted inference event...} | null}

``project`` is the slug of the project of the ingestion key that sent the event (ingestion stamps
it; the event itself has no such field). Records published before projects existed have none:
they belong to :data:`DEFAULT_PROJECT`.

When the payload is offloaded (``PRISM_KEEP_RAW`` or an event too big for the bus) the event's
``request``/``response`` are left out and ``raw_payload_uri`` points at the full redacted event;
when even the rest is too big, ``event`` is null and the writer reads everything from the URI.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from prism.errors import BadRecordError as BadRecordError  # the records' error, importable from here too

RECORD_VERSION = 1
PAYLOAD_KEYS = ("request", "response")
DEFAULT_PROJECT = "default"


def encode_record(
    event: dict[str, Any] | None,
    created_at: datetime,
    redactions: dict[str, int],
    raw_payload_uri: str | None,
    *,
    project: str = DEFAULT_PROJECT,
    event_json: bytes | None = None,
) -> bytes:
    """The record's JSON. ``event_json``, when given, is the event already serialised."""
    head = orjson.dumps(
        {
            "v": RECORD_VERSION,
            "created_at": created_at,
            "project": project,
            "redactions": redactions,
            "raw_payload_uri": raw_payload_uri,
        }
    )
    return head[:-1] + b',"event":' + (event_json if event_json is not None else orjson.dumps(event)) + b"}"


def decode_record(data: bytes) -> dict[str, Any]:
    try:
        record = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise BadRecordError(f"not JSON: {exc}") from exc
    if not isinstance(record, dict) or record.get("v") != RECORD_VERSION:
        raise BadRecordError("not a Prism bus record v1")
    if not isinstance(record.get("created_at"), str):
        raise BadRecordError("record has no created_at")
    if record.get("event") is None and not record.get("raw_payload_uri"):
        raise BadRecordError("record has neither an event nor a raw_payload_uri")
    project = record.setdefault("project", DEFAULT_PROJECT)  # a record from before projects
    if not isinstance(project, str) or not project:
        raise BadRecordError("record's project is not a slug")
    return record


@dataclass
class ToolRow:
    inference_id: str
    idx: int
    created_at: datetime
    name: str
    tool_call_id: str | None
    status: str
    arguments: str | None
    result: str | None
    error: str | None
    ts_start: datetime | None
    ts_end: datetime | None
    latency_ms: float | None


@dataclass
class LogRow:
    """One ``inference_logs`` row. Field order is the column order."""

    id: str
    created_at: datetime
    ts_start: datetime
    ts_first_token: datetime | None
    ts_end: datetime
    latency_ms: float
    ttft_ms: float | None
    provider: str
    model: str
    response_model: str | None
    status: str
    finish_reason: str | None
    error_type: str | None
    error_message: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    total_tokens: int | None
    cached_tokens: int | None
    reasoning_tokens: int | None
    cost_usd: float | None
    cost_note: str | None
    conversation_id: str | None
    message_id: str | None
    trace_id: str | None
    span_id: str | None
    user_id: str | None
    tags: list[str]
    metadata: str
    redactions: str
    raw_payload_jsonb: str | None
    raw_payload_uri: str | None
    sdk: str | None
    schema_version: int
    project: str = DEFAULT_PROJECT
    tools: list[ToolRow] = field(default_factory=list)


LOG_COLUMNS = tuple(f for f in LogRow.__dataclass_fields__ if f != "tools")
TOOL_COLUMNS = tuple(ToolRow.__dataclass_fields__)


def _ts(value: Any, name: str) -> datetime:
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError) as exc:
        raise BadRecordError(f"{name} is not an ISO 8601 timestamp") from exc


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise BadRecordError(f"{name} is not an integer: {value!r}")
    try:
        return int(value)
    except ValueError as exc:
        raise BadRecordError(f"{name} is not an integer: {value!r}") from exc


def _ms(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return (end - start).total_seconds() * 1000.0


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def to_row(record: dict[str, Any], event: dict[str, Any]) -> LogRow:
    """Build the row for a decoded record; ``event`` is the record's event or the fetched full one."""
    try:
        created_at = _ts(record["created_at"], "created_at")
        ts_start = _ts(event["ts_start"], "ts_start")
        ts_end = _ts(event["ts_end"], "ts_end")
        first = event.get("ts_first_token")
        ts_first = _ts(first, "ts_first_token") if first else None
        usage = event.get("usage") or {}
        response = event.get("response") or {}
        error = event.get("error") or {}
        uri = record.get("raw_payload_uri")
        payload = None if uri else {k: event.get(k) for k in PAYLOAD_KEYS}
        event_id = str(event["id"])
        tools = [
            ToolRow(
                inference_id=event_id,
                idx=i,
                created_at=created_at,
                name=str(t["name"]),
                tool_call_id=t.get("id"),
                status=t.get("status") or "ok",
                arguments=_json(t.get("arguments")),
                result=_json(t.get("result")),
                error=t.get("error"),
                ts_start=_ts(t["ts_start"], "tool ts_start") if t.get("ts_start") else None,
                ts_end=_ts(t["ts_end"], "tool ts_end") if t.get("ts_end") else None,
                latency_ms=None,
            )
            for i, t in enumerate(event.get("tool_invocations") or [])
        ]
        for t in tools:
            t.latency_ms = _ms(t.ts_start, t.ts_end)
        return LogRow(
            id=event_id,
            created_at=created_at,
            ts_start=ts_start,
            ts_first_token=ts_first,
            ts_end=ts_end,
            latency_ms=_ms(ts_start, ts_end) or 0.0,
            ttft_ms=_ms(ts_start, ts_first),
            provider=str(event["provider"]),
            model=str(event["model"]),
            response_model=response.get("model"),
            status=str(event["status"]),
            finish_reason=response.get("finish_reason"),
            error_type=error.get("type"),
            error_message=error.get("message"),
            prompt_tokens=usage.get("prompt_tokens"),
            completion_tokens=usage.get("completion_tokens"),
            total_tokens=usage.get("total_tokens"),
            cached_tokens=usage.get("cached_tokens"),
            reasoning_tokens=usage.get("reasoning_tokens"),
            cost_usd=event.get("cost_usd"),
            cost_note=event.get("cost_note"),
            conversation_id=event.get("conversation_id"),
            message_id=event.get("message_id"),
            trace_id=event.get("trace_id"),
            span_id=event.get("span_id"),
            user_id=event.get("user_id"),
            tags=list(event.get("tags") or []),
            metadata=orjson.dumps(event.get("metadata") or {}).decode(),
            redactions=orjson.dumps(record.get("redactions") or {}).decode(),
            raw_payload_jsonb=_json(payload),
            raw_payload_uri=uri,
            sdk=event.get("sdk"),
            schema_version=_int(event.get("schema_version", 1), "schema_version"),
            project=record.get("project") or DEFAULT_PROJECT,
            tools=tools,
        )
    except BadRecordError:
        raise
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise BadRecordError(f"record is missing or has a bad field: {exc!r}") from exc
