"""Raw payloads across a recreate of compose's services: the file store on one directory (compose's
`raw-payloads` volume, with compose's own raw store settings), written by two ingestion processes,
read by the writer for the events sent by reference, then by a query API started after all of them
are gone, as after `docker compose down && docker compose up`."""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import unquote, urlparse

import httpx
import psycopg
import yaml
from prism.identity.model import Role
from prism.identity.service import IdentityService

from scripts.dev import Service, spawn, uvicorn_argv, wait_healthy
from tests.integration.pipeline.conftest import make_event
from tests.support.auth import Callers
from tests.support.net import free_port
from tests.support.stack import Stack

ROOT = Path(__file__).resolve().parents[3]


def compose_raw_store(volume: Path) -> dict[str, str]:
    """The raw store settings compose gives every service that touches raw payloads (its
    ``x-raw-store`` block), with the volume's mount point replaced by a directory of the test."""
    settings: dict[str, str] = yaml.safe_load((ROOT / "compose.yaml").read_text())["x-raw-store"]
    assert settings["PRISM_RAW_STORE"] == "file", settings
    return {**settings, "PRISM_RAW_DIR": str(volume)}


def test_payloads_written_before_a_recreate_are_served_by_a_new_query_api(
    clean_database: str, redis_url: str, stream_name: str, identity: IdentityService, tmp_path: Path
) -> None:
    volume = tmp_path / "raw-payloads"
    env = {**compose_raw_store(volume), "PRISM_KEEP_RAW": "true", "PRISM_BUS_MAX_PAYLOAD_BYTES": "8192"}
    kept = [make_event() for _ in range(6)]
    # too big for the bus even without request/response: the record carries only the URI, and the
    # writer (another process) reads the event from the file ingestion wrote
    big = make_event(metadata={"blob": "lorem ipsum " * 2000, "contact": "jane.doe@example.com"})

    # GIVEN two ingestion processes and a writer on one raw payload directory
    with Stack(clean_database, redis_url, stream_name, env=env) as stack:
        stack.stop("ingestion")
        stack.start_ingestion(workers=2)
        for n, url in enumerate(stack.ingest_urls):
            batch = kept[n * 3 : n * 3 + 3] + ([big] if n == 1 else [])
            resp = httpx.post(url + "/v1/events", headers=stack.headers, json={"events": batch}, timeout=30)
            assert resp.status_code == 202, resp.text
        stack.wait_for_rows(len(kept) + 1)
    # WHEN every process is gone (the containers removed) ...
    with psycopg.connect(clean_database) as conn:
        uris = dict(conn.execute("SELECT id::text, raw_payload_uri FROM inference_logs").fetchall())
    assert set(uris) == {e["id"] for e in [*kept, big]}
    for uri in uris.values():  # file:// URIs of absolute paths under the volume's mount point
        assert uri.startswith(volume.resolve().as_uri() + "/"), uri
        assert Path(unquote(urlparse(uri).path)).is_file()

    # ... and a new query API starts on the same directory
    port = free_port()
    query_env = {
        **os.environ,
        **compose_raw_store(volume),
        "PRISM_ENV": "test",
        "PRISM_DATABASE_URL": clean_database,
    }
    log_dir = tmp_path / "logs"
    proc = spawn(Service("query", uvicorn_argv("query.app:app", port, "--log-level", "warning")), query_env, log_dir)
    try:
        wait_healthy(f"http://127.0.0.1:{port}/healthz", proc, timeout=60)
        caller = Callers(identity).session(Role.admin)
        # THEN it serves each row's payload from the file written before the recreate
        for event in [*kept, big]:
            resp = httpx.get(f"http://127.0.0.1:{port}/api/logs/{event['id']}", timeout=30, **caller.kwargs())
            assert resp.status_code == 200, resp.text
            body = resp.json()
            stored = json.loads(Path(unquote(urlparse(uris[event["id"]]).path)).read_bytes())
            assert body["payload_location"] == "object_store" and body["payload_error"] is None, body
            assert body["payload"] == {"request": stored["request"], "response": stored["response"]}
            assert body["payload"]["request"]["messages"], body["payload"]
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    log = (log_dir / "query.log").read_text()
    assert "Traceback" not in log, log[-3000:]
