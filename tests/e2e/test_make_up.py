"""`make up` without Docker, as a user runs it: GIVEN the local stack started by scripts.dev
WHEN an event is posted to the ingestion API THEN it lands in PostgreSQL; `down` stops it all."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import psycopg
import pytest
from prism.adapters.postgres import drop_database

from tests.support.net import free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def local_env(tmp_path: Path, redis_url: str) -> dict[str, str]:
    db = f"postgresql://postgres@127.0.0.1:5432/prism_e2e_{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "PRISM_STATE_DIR": str(tmp_path / "state"),
        "PRISM_DATABASE_URL": db,
        "PRISM_REDIS_URL": redis_url,
        "PRISM_STREAM": f"prism-test:{uuid.uuid4().hex[:8]}:inference.logged",
        "PRISM_API_KEY": "e2e-key",
        "PRISM_CHAT_PORT": str(free_port()),
        "PRISM_QUERY_PORT": str(free_port()),
        "PRISM_WEB_PORT": str(free_port()),
        "PRISM_CREDS_KEY": "x" * 43 + "=",
    }
    # Our own ports everywhere, whatever a developer's .env says (scripts.dev reads it as defaults).
    emulator, ingestion = free_port(), free_port()
    env.update(
        PRISM_EMULATOR_PORT=str(emulator),
        PRISM_INGESTION_PORT=str(ingestion),
        AWS_ENDPOINT_URL=f"http://127.0.0.1:{emulator}",
        PRISM_INGEST_URL=f"http://127.0.0.1:{ingestion}",
    )
    yield env
    subprocess.run([sys.executable, "-m", "scripts.dev", "down"], env=env, cwd=ROOT, timeout=60, check=False)
    drop_database(db)


def poll(env: dict[str, str], query: str, arg: object, timeout: float = 30) -> tuple[object, ...] | None:
    """The first row of ``query`` once it has one (a count above zero counts), or None at the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        with psycopg.connect(env["PRISM_DATABASE_URL"]) as conn:
            row = conn.execute(query, (arg,)).fetchone()  # type: ignore[arg-type]
        if (row is not None and row != (0,)) or time.monotonic() > deadline:
            return row
        time.sleep(0.2)


def test_up_serves_ingestion_and_writes_rows_then_down_stops_everything(local_env: dict[str, str]) -> None:
    up = subprocess.run(
        [sys.executable, "-m", "scripts.dev", "up"],
        env=local_env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert up.returncode == 0, up.stdout + up.stderr
    assert "Ingestion API" in up.stdout and "/docs" in up.stdout

    base = f"http://127.0.0.1:{local_env['PRISM_INGESTION_PORT']}"
    assert httpx.get(base + "/readyz").json()["status"] == "ok"
    event = json.loads((ROOT / "tests" / "events" / "minimal.json").read_text())
    response = httpx.post(base + "/v1/events", json={"events": [event]}, headers={"Authorization": "Bearer e2e-key"})
    assert response.status_code == 202, response.text
    assert poll(local_env, "SELECT count(*) FROM inference_logs WHERE id = %s", event["id"]) == (1,)

    # The chat API on its port: an offline demo turn, streamed, lands as an inference event.
    chat = f"http://127.0.0.1:{local_env['PRISM_CHAT_PORT']}"
    conversation = httpx.post(chat + "/api/conversations", json={}).json()["id"]
    with httpx.stream(
        "POST",
        f"{chat}/api/conversations/{conversation}/messages",
        json={"content": "Hello from the e2e test, mail me at e2e@example.com", "model": "demo/prism-demo"},
        timeout=60,
    ) as stream:
        events = [line[7:] for line in stream.iter_lines() if line.startswith("event: ")]
    assert events[0] == "start" and "delta" in events and events[-1] == "done", events
    row = poll(
        local_env, "SELECT status, raw_payload_jsonb::text FROM inference_logs WHERE conversation_id = %s", conversation
    )
    assert row is not None and row[0] == "ok"
    assert "e2e@example.com" not in row[1] and "[EMAIL]" in row[1]

    # The query API sees both events: in the metrics and in the logs explorer, with the payload.
    query = f"http://127.0.0.1:{local_env['PRISM_QUERY_PORT']}"
    summary = httpx.get(query + "/api/metrics/summary", params={"group_by": "model"}).json()
    assert summary["total"]["requests"] >= 2 and summary["total"]["latency_ms"]["p95"] is not None
    logs = httpx.get(query + "/api/logs", params={"conversation_id": conversation}).json()["items"]
    assert len(logs) == 1 and logs[0]["status"] == "ok"
    detail = httpx.get(f"{query}/api/logs/{logs[0]['id']}").json()
    assert "[EMAIL]" in json.dumps(detail["payload"])

    # The web UI, with its runtime config pointing at this stack, allowed by the chat API's CORS.
    web = f"http://127.0.0.1:{local_env['PRISM_WEB_PORT']}"
    assert "<html" in httpx.get(web + "/").text
    config = httpx.get(web + "/config.json").json()
    assert config["chatApiUrl"].endswith(f":{local_env['PRISM_CHAT_PORT']}")
    assert config["queryApiUrl"].endswith(f":{local_env['PRISM_QUERY_PORT']}")
    origin = f"http://localhost:{local_env['PRISM_WEB_PORT']}"
    models = httpx.get(chat + "/api/models", headers={"Origin": origin})
    assert models.headers.get("access-control-allow-origin") == origin

    down = subprocess.run(
        [sys.executable, "-m", "scripts.dev", "down"],
        env=local_env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert down.returncode == 0 and "stopped" in down.stdout
    with pytest.raises(httpx.HTTPError):
        httpx.get(base + "/healthz", timeout=2)
