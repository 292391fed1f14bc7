"""The wire contract: inference event v1.

This module is the single source of truth for what an SDK sends to ``POST /v1/events``.
``docs/inference-event-v1.schema.json`` is generated from it (``make schema``) and a test keeps
the two in step; the SDK's tests validate the events it builds against that file.

Field names follow the OpenTelemetry GenAI semantic conventions where one exists; the mapping
is in ``docs/events.md``.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

SCHEMA_VERSION = 1
MAX_UTC_OFFSET = timedelta(hours=15, minutes=59)  # PostgreSQL's limit; no real time zone comes near
INT_RANGE = (-(2**63), 2**64 - 1)  # what the JSON encoder and jsonb round-trip exactly


def _utc(value: datetime) -> datetime:
    """A timestamp as stored: in UTC. Offsets beyond ±15:59 and instants outside years 1-9999 are
    refused here, with a reason, rather than failing later in the database."""
    offset = value.utcoffset()
    if offset is not None and abs(offset) > MAX_UTC_OFFSET:
        raise ValueError("the UTC offset must be within ±15:59")
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("the instant is outside years 1-9999 in UTC") from None


def _bad_json(value: Any) -> str | None:
    """What in free-form JSON (metadata, params, tool arguments...) would not be stored exactly:
    a non-finite number or an integer beyond 64 bits, with its path; None when all is well."""
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    elif isinstance(value, float):
        return None if math.isfinite(value) else f": {value} is not a finite number (JSON has no infinity or NaN)"
    elif isinstance(value, int) and not INT_RANGE[0] <= value <= INT_RANGE[1]:
        return f": the integer {str(value)[:40]} is outside the 64-bit range"
    else:
        return None
    for key, item in items:
        if not isinstance(item, str) and (bad := _bad_json(item)) is not None:
            return (f"[{key}]" if isinstance(key, int) else f".{key}") + bad
    return None


Status = Literal["ok", "error", "cancelled"]
ShortText = Annotated[str, Field(min_length=1, max_length=256)]
RefId = Annotated[str, Field(min_length=1, max_length=256)]
TokenCount = Annotated[int, Field(ge=0, le=100_000_000)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class Usage(_Model):
    """Token counts as the provider reported them (``gen_ai.usage.*``)."""

    prompt_tokens: TokenCount | None = None
    completion_tokens: TokenCount | None = None
    total_tokens: TokenCount | None = None
    cached_tokens: TokenCount | None = None
    reasoning_tokens: TokenCount | None = None


class Message(BaseModel):
    """One chat message, OpenAI shape. Content is text or a list of parts (text, image, ...)."""

    model_config = ConfigDict(extra="allow")

    role: Annotated[str, Field(min_length=1, max_length=64)]
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None


class Request(_Model):
    """What was sent to the model."""

    messages: list[Message] = Field(default_factory=list, max_length=10_000)
    params: dict[str, Any] = Field(default_factory=dict)
    tools: list[dict[str, Any]] | None = None


class ToolCall(_Model):
    """A tool call requested by the model in its response."""

    id: str | None = None
    type: str = "function"
    name: Annotated[str, Field(max_length=256)]
    arguments: str | dict[str, Any] | None = None


class Response(_Model):
    """What the model returned (the partial output, for a cancelled stream)."""

    model: str | None = Field(default=None, max_length=256, description="Model name the provider returned")
    content: str | None = None
    finish_reason: str | None = Field(default=None, max_length=64)
    tool_calls: list[ToolCall] = Field(default_factory=list)


class ErrorInfo(_Model):
    type: Annotated[str, Field(min_length=1, max_length=256)]
    message: str = Field(default="", max_length=20_000)
    status_code: int | None = Field(default=None, ge=100, le=599)


class ToolInvocation(_Model):
    """A tool the application ran on the model's behalf."""

    id: str | None = Field(default=None, max_length=256)
    name: Annotated[str, Field(min_length=1, max_length=256)]
    arguments: Any = None
    result: Any = None
    status: Literal["ok", "error"] = "ok"
    error: str | None = None
    ts_start: AwareDatetime | None = None
    ts_end: AwareDatetime | None = None


class InferenceEvent(_Model):
    """One LLM call. ``id`` is made by the client and is the idempotency key."""

    schema_version: Literal[1] = 1
    id: UUID
    ts_start: AwareDatetime
    ts_first_token: AwareDatetime | None = None
    ts_end: AwareDatetime
    provider: ShortText
    model: ShortText
    status: Status
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float | None = Field(default=None, ge=0, le=1_000_000)
    cost_note: str | None = Field(
        default=None, max_length=500, description="Why cost_usd is null (e.g. no price known for the model)"
    )
    request: Request = Field(default_factory=Request)
    response: Response | None = None
    error: ErrorInfo | None = None
    tool_invocations: list[ToolInvocation] = Field(default_factory=list, max_length=1000)
    conversation_id: RefId | None = None
    message_id: RefId | None = None
    trace_id: RefId | None = None
    span_id: RefId | None = None
    user_id: RefId | None = None
    tags: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(default_factory=list, max_length=64)
    metadata: dict[str, Any] = Field(default_factory=dict)
    sdk: str | None = Field(default=None, max_length=100, description="name/version of the sender")

    @model_validator(mode="after")
    def _storable(self) -> InferenceEvent:
        """What PostgreSQL will store, checked at the door: times in UTC and in order, free-form
        JSON with finite numbers and 64-bit integers (one pass, on the ingestion hot path)."""
        self.ts_start, self.ts_end = _utc(self.ts_start), _utc(self.ts_end)
        if self.ts_first_token is not None:
            self.ts_first_token = _utc(self.ts_first_token)
        problem = self._json_problem()
        if problem is not None:
            raise ValueError(problem)
        if self.ts_end < self.ts_start:
            raise ValueError("ts_end is before ts_start")
        first = self.ts_first_token
        if first is not None and not (self.ts_start <= first <= self.ts_end):
            raise ValueError("ts_first_token must lie between ts_start and ts_end")
        if self.status == "error" and self.error is None:
            raise ValueError("status 'error' needs an 'error' object")
        return self

    def _json_problem(self) -> str | None:
        """The first value of the free-form JSON parts that would not be stored exactly, by path
        (tool invocations' times are made UTC on the way)."""
        request = self.request
        for name, value in (("metadata", self.metadata), ("request.params", request.params)):
            if value and (bad := _bad_json(value)) is not None:
                return name + bad
        if request.tools and (bad := _bad_json(request.tools)) is not None:
            return "request.tools" + bad
        for i, m in enumerate(request.messages):
            if isinstance(m.content, str) and not m.tool_calls and not m.model_extra:
                continue  # the usual message: nothing free-form
            parts: tuple[tuple[str, Any], ...] = (
                (".content", m.content),
                (".tool_calls", m.tool_calls),
                ("", m.model_extra),
            )
            for part, free in parts:
                if free and (bad := _bad_json(free)) is not None:
                    return f"request.messages[{i}]{part}{bad}"
        for i, call in enumerate(self.response.tool_calls if self.response else ()):
            if (bad := _bad_json(call.arguments)) is not None:
                return f"response.tool_calls[{i}].arguments" + bad
        for i, tool in enumerate(self.tool_invocations):
            if (bad := _bad_json({"arguments": tool.arguments, "result": tool.result})) is not None:
                return f"tool_invocations[{i}]" + bad
            if tool.ts_start is not None:
                tool.ts_start = _utc(tool.ts_start)
            if tool.ts_end is not None:
                tool.ts_end = _utc(tool.ts_end)
        return None


class EventBatch(BaseModel):
    """The body of ``POST /v1/events`` (documentation only: events are validated one by one)."""

    events: list[dict[str, Any]] = Field(min_length=1, max_length=500)


def json_schema() -> dict[str, Any]:
    schema = InferenceEvent.model_json_schema()
    schema["$id"] = "https://prism.dev/schemas/inference-event-v1.json"
    schema["title"] = "Prism inference event v1"
    return schema
