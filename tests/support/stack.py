"""Start the real ingestion API and writer as processes for a test, on their own stream.

with Stack(database_url, redis_url, stream, aws_endpoint) as stack:
    httpx.post(stack.ingest_url + "/v1/events", headers=stack.headers, json={...})
    stack.wait_for_rows(10)
"""

from __future__ import annotations

import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from scripts.dev import Service, spawn, uvicorn_argv, wait_healthy
from tests.support.net import free_port


class Stack:
    def __init__(
        self,
        database_url: str,
        redis_url: str,
        stream: str,
        aws_endpoint: str | None = None,
        *,
        writer: bool = True,
        env: dict[str, str] | None = None,
    ) -> None:
        self.database_url = database_url
        self.api_key = "test-" + secrets.token_hex(8)
        self.port = free_port()
        self.ingest_url = f"http://127.0.0.1:{self.port}"
        self.headers = {"Authorization": f"Bearer {self.api_key}"}
        self.ingest_urls = [self.ingest_url]
        self.log_dir = Path(tempfile.mkdtemp(prefix="prism-stack-"))
        self.stream = stream
        self.env: dict[str, str] = {
            **__import__("os").environ,
            "PRISM_ENV": "test",
            "PRISM_DATABASE_URL": database_url,
            "PRISM_REDIS_URL": redis_url,
            "PRISM_STREAM": stream,
            "PRISM_API_KEY": self.api_key,
            "PRISM_WRITER_BLOCK_MS": "50",
            "PRISM_WRITER_CLAIM_IDLE_MS": "1000",
            "PRISM_RAW_BUCKET": "prism-test-raw",
            **({"AWS_ENDPOINT_URL": aws_endpoint} if aws_endpoint else {}),
            **(env or {}),
        }
        self.want_writer = writer
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start_ingestion(self, workers: int = 1) -> None:
        argv = uvicorn_argv("ingestion.app:app", self.port, "--log-level", "warning")
        self.procs["ingestion"] = spawn(Service("ingestion", argv), self.env, self.log_dir)
        wait_healthy(self.ingest_url + "/healthz", self.procs["ingestion"], timeout=60)
        # More instances on ports of their own, as behind a load balancer (uvicorn --workers shares
        # one socket and the kernel tends to hand every keep-alive connection to one process).
        self.ingest_urls = [self.ingest_url]
        for n in range(1, workers):
            port = free_port()
            argv[argv.index("--port") + 1] = str(port)
            name = f"ingestion-{n}"
            self.procs[name] = spawn(Service(name, list(argv)), self.env, self.log_dir)
            wait_healthy(f"http://127.0.0.1:{port}/healthz", self.procs[name], timeout=60)
            self.ingest_urls.append(f"http://127.0.0.1:{port}")

    def start_writer(self, name: str = "writer", consumer: str | None = None) -> subprocess.Popen[bytes]:
        env = {**self.env, **({"PRISM_WRITER_CONSUMER": consumer} if consumer else {})}
        proc = spawn(Service(name, [sys.executable, "-m", "writer.consumer"], env=env), self.env, self.log_dir)
        self.procs[name] = proc
        return proc

    def stop(self, name: str, *, kill: bool = False) -> None:
        proc = self.procs.pop(name, None)
        if proc is None:
            return
        (proc.kill if kill else proc.terminate)()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def __enter__(self) -> Stack:
        try:
            self.start_ingestion()
            if self.want_writer:
                self.start_writer()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        for name in list(self.procs):
            self.stop(name)

    def logs(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def count_rows(self, where: str = "TRUE", params: tuple[Any, ...] = ()) -> int:
        import psycopg

        with psycopg.connect(self.database_url) as conn:
            row = conn.execute(f"SELECT count(*) FROM inference_logs WHERE {where}", params).fetchone()  # noqa: S608
        return int(row[0]) if row else 0

    def wait_for_rows(self, n: int, timeout: float = 30.0, where: str = "TRUE", params: tuple[Any, ...] = ()) -> int:
        deadline = time.monotonic() + timeout
        count = 0
        while time.monotonic() < deadline:
            count = self.count_rows(where, params)
            if count >= n:
                return count
            time.sleep(0.1)
        raise TimeoutError(f"{count} of {n} rows after {timeout}s\nwriter log:\n{self.logs('writer')[-3000:]}")
