"""Request and response models of the ingestion API, and the components its OpenAPI document adds."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import FastAPI
from prism.events import InferenceEvent
from prism.http import ERROR_SCHEMA
from pydantic import BaseModel, Field

ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}


class ValidBatch(BaseModel):
    """The fast path's view of a body: every event valid (else each is judged on its own)."""

    events: list[InferenceEvent]


class Accepted(BaseModel):
    accepted: int = Field(ge=1, description="Events accepted and published")


class RejectedEvent(BaseModel):
    index: int = Field(description="Position of the event in the batch")
    id: str | None
    errors: list[str]


class PartiallyAccepted(Accepted):
    rejected: list[RejectedEvent]


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ok", "degraded"]
    degraded: list[str] | None = Field(default=None, description="Why the pipeline is not flowing (degraded only)")
    checks: dict[str, str] = Field(description="Each part reached: 'ok' or why it is not")
    pipeline: dict[str, Any] = Field(description="The bus's figures: writer lag, pending, consumers, dead letters")


def add_components(app: FastAPI) -> None:
    """The error shape and the event contract, as named components of the OpenAPI document."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = original()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components["Error"] = ERROR_SCHEMA
        event = InferenceEvent.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(event.pop("$defs", {}))  # where the refs point: the models it is made of
        components["InferenceEventV1"] = event
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
