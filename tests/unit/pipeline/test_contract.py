"""The wire contract: one source of truth, and the committed JSON Schema kept in step with it."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from prism.events import InferenceEvent, json_schema
from pydantic import ValidationError

ROOT = Path(__file__).resolve().parents[3]
EVENTS = ROOT / "tests" / "events"


def test_committed_schema_matches_the_model() -> None:
    committed = json.loads((ROOT / "docs" / "inference-event-v1.schema.json").read_text())
    assert committed == json_schema(), "run `make schema` and commit docs/inference-event-v1.schema.json"


@pytest.mark.parametrize("path", sorted(EVENTS.glob("*.json")), ids=lambda p: p.name)
def test_sample_events_are_valid(path: Path) -> None:
    data = json.loads(path.read_text())
    InferenceEvent.model_validate(data)
    jsonschema.validate(data, json_schema())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"ts_end": "2026-11-27T06:59:00Z"}, "ts_end is before ts_start"),
        ({"ts_first_token": "2026-11-27T08:00:00Z"}, "ts_first_token must lie between"),
        ({"status": "done"}, "status"),
        ({"ts_start": "2026-11-27T07:00:00"}, "timezone"),
        ({"id": "not-a-uuid"}, "id"),
        ({"usage": {"prompt_tokens": -1}}, "prompt_tokens"),
        ({"unknown_field": 1}, "unknown_field"),
        ({"status": "error", "error": None}, "needs an 'error'"),
    ],
)
def test_rejects_bad_events(change: dict[str, object], message: str) -> None:
    data = {**json.loads((EVENTS / "chat_turn_with_pii.json").read_text()), **change}
    with pytest.raises(ValidationError) as exc:
        InferenceEvent.model_validate(data)
    assert message in str(exc.value)
