from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from ingestion.app import create_app
from prism.adapters.memory import MemoryBus, MemoryRawPayloadStore
from prism.adapters.postgres import PostgresLogStore
from prism.config import Settings
from prism.ingest import Ingestor
from prism.ports import BusMessage
from prism.redact import RegexRedactor
from prism.write import RecordWriter

from tests.support.net import free_port, wait_for_port

EVENT = json.loads((Path(__file__).resolve().parents[2] / "events" / "chat_turn_with_pii.json").read_text())


def make_event(**changes: Any) -> dict[str, Any]:
    return {**copy.deepcopy(EVENT), "id": str(uuid.uuid4()), **changes}


@pytest.fixture
def s3_bucket(aws_endpoint: str) -> str:
    import boto3

    name = f"prism-test-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=aws_endpoint).create_bucket(Bucket=name)
    return name


@dataclass
class RedisServer:
    """A redis-server of the test's own, on a free port: it may be stopped (SIGSTOP) or measured
    without touching the machine's Redis on 6379."""

    proc: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def pause(self) -> None:
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.proc.pid, signal.SIGCONT)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    port = free_port()
    argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    argv += ["--dir", str(tmp_path), "--maxmemory", "256mb", "--maxmemory-policy", "noeviction"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = RedisServer(proc, port)
    try:
        wait_for_port(port)
        yield server
    finally:
        server.resume()  # a stopped process cannot act on SIGTERM
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def pipeline(clean_database: str) -> Iterator[tuple[TestClient, MemoryBus, RecordWriter]]:
    """The ingestion API (key "k") over an in-memory bus, and the real writer core on PostgreSQL."""
    bus = MemoryBus()
    app = create_app(Settings(api_key="k"), Ingestor(bus, RegexRedactor(), MemoryRawPayloadStore()))
    store = PostgresLogStore(clean_database)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, bus, RecordWriter(store)
    store.close()


def write_all(bus: MemoryBus, writer: RecordWriter) -> Any:
    """Write everything the bus holds, as the writer would read it."""
    return writer.handle([BusMessage(str(i), data) for i, (_, data) in enumerate(bus.messages)])
