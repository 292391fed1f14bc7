"""Test helpers for the SDK: a fake ingestion API and the wire-contract check."""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


class FakeIngest:
    """A stand-in for ``POST /v1/events``: records events; answers scripted statuses (default 202)."""

    def __init__(self, port: int = 0) -> None:
        self.events: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.script: deque[tuple[int, Any, dict[str, str]]] = deque()
        self.reject_ids: set[str] = set()
        self.delay = 0.0
        # hold: read each request, then never answer it (until stop(): the connection is then closed
        # without an answer) and store nothing: a server that is up but slow, from the client's side
        self.hold = False
        self.held: list[int] = []  # number of events of each request held
        self._released = threading.Event()
        self.lock = threading.Lock()
        self._port = port
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    def ids(self) -> list[str]:
        with self.lock:
            return [e["id"] for e in self.events]

    def start(self) -> FakeIngest:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a: Any) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    raw = gzip.decompress(raw)
                body = json.loads(raw)
                if fake.hold:
                    with fake.lock:
                        fake.held.append(len(body["events"]))
                    fake._released.wait()
                    self.close_connection = True
                    return
                if fake.delay:
                    threading.Event().wait(fake.delay)
                with fake.lock:
                    fake.requests.append(
                        {"headers": dict(self.headers), "n": len(body["events"]), "raw": raw, "t": time.monotonic()}
                    )
                    scripted = fake.script.popleft() if fake.script else None
                if scripted is not None:
                    status, payload, headers = scripted
                else:
                    rejected = [
                        {"index": i, "id": e.get("id"), "errors": ["rejected by test"]}
                        for i, e in enumerate(body["events"])
                        if e.get("id") in fake.reject_ids
                    ]
                    good = [e for e in body["events"] if e.get("id") not in fake.reject_ids]
                    with fake.lock:
                        known = {e["id"] for e in fake.events}
                        fake.events.extend(e for e in good if e["id"] not in known)
                    status = 207 if rejected else 202
                    payload = {"accepted": len(good), **({"rejected": rejected} if rejected else {})}
                    headers = {}
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self._port), Handler)
        self._server.daemon_threads = True
        self._port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._released.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def validate(event: dict[str, Any]) -> None:
    """Check an event against the wire contract (functions/prism/events.py, the source of truth)."""
    from prism.events import InferenceEvent

    InferenceEvent.model_validate(event)
    schema_file = ROOT / "docs" / "inference-event-v1.schema.json"
    if schema_file.exists():
        import jsonschema

        jsonschema.validate(event, json.loads(schema_file.read_text()))
