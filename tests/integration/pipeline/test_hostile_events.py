"""Events that are valid JSON but hostile to the storage or the redactor: GIVEN such an event WHEN
ingested THEN it is either stored (sanitised, redacted) or rejected with a reason; never a 500,
never accepted and then lost."""

from __future__ import annotations

from typing import Any

import psycopg
from fastapi.testclient import TestClient
from prism.adapters.memory import MemoryBus
from prism.write import RecordWriter

from tests.integration.pipeline.conftest import make_event, write_all

AUTH = {"Authorization": "Bearer k"}


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": "x"}
    for _ in range(depth):
        value = {"n": value}
    return value


def test_nul_characters_are_stored_as_replacement_characters(
    pipeline: tuple[TestClient, MemoryBus, RecordWriter], clean_database: str
) -> None:
    client, bus, writer = pipeline
    event = make_event(model="gpt\x00x", metadata={"note": "a\x00b", "k\x00": 1})
    event["request"]["messages"][1]["content"] = "hello\x00world"
    assert client.post("/v1/events", headers=AUTH, json={"events": [event]}).status_code == 202
    outcome = write_all(bus, writer)
    assert outcome.failed == {} and outcome.written == 1
    with psycopg.connect(clean_database) as conn:
        model, metadata, payload = conn.execute(
            "SELECT model, metadata, raw_payload_jsonb FROM inference_logs WHERE id = %s", (event["id"],)
        ).fetchone()  # type: ignore[misc]
    assert model == "gpt\ufffdx" and metadata["note"] == "a\ufffdb" and "k\ufffd" in metadata
    assert payload["request"]["messages"][1]["content"] == "hello\ufffdworld"


def test_an_event_nested_too_deeply_is_rejected_alone(pipeline: tuple[TestClient, MemoryBus, RecordWriter]) -> None:
    client, bus, writer = pipeline
    deep, fine = make_event(metadata=nested(300)), make_event()
    response = client.post("/v1/events", headers=AUTH, json={"events": [deep, fine]})
    assert response.status_code == 207, response.text
    body = response.json()
    assert body["accepted"] == 1
    assert body["rejected"][0]["index"] == 0 and "nesting deeper than" in body["rejected"][0]["errors"][0]
    assert write_all(bus, writer).written == 1


def test_structure_names_inside_content_are_still_redacted(
    pipeline: tuple[TestClient, MemoryBus, RecordWriter], clean_database: str
) -> None:
    client, bus, writer = pipeline
    event = make_event(metadata={"id": "jane@corp.example", "type": "call 415-555-0199"})
    event["tool_invocations"][0]["arguments"] = {"status": "call 415-555-0199", "id": "jane@corp.example"}
    assert client.post("/v1/events", headers=AUTH, json={"events": [event]}).status_code == 202
    write_all(bus, writer)
    with psycopg.connect(clean_database) as conn:
        metadata, arguments, payload = conn.execute(
            "SELECT l.metadata, t.arguments, l.raw_payload_jsonb FROM inference_logs l "
            "JOIN tool_invocations t ON t.inference_id = l.id WHERE l.id = %s",
            (event["id"],),
        ).fetchone()  # type: ignore[misc]
    assert metadata == {"id": "[EMAIL]", "type": "call [PHONE]"}
    assert arguments == {"status": "call [PHONE]", "id": "[EMAIL]"}
    # ... while real structure is kept as sent
    assert payload["request"]["messages"][1]["role"] == "user"
    assert payload["response"]["model"] == "gpt-4o-mini-2024-07-18"
