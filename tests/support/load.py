"""Load for the recovery tests: a client of the ingestion API, and a poller of a read API.

``IngestLoad`` posts a bounded number of batches of new events from a thread and behaves as a client
should: on a 503 or a connection error it sends the same batch again (same ids) until it is
accepted, so every event it made ends up accepted exactly once from its point of view. What it
records (ids accepted, retries by cause, anything else as an error) is what the tests count rows
against.
"""

from __future__ import annotations

import copy
import json
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

EVENT = json.loads((Path(__file__).resolve().parents[1] / "events" / "chat_turn_with_pii.json").read_text())


def new_event() -> dict[str, Any]:
    return {**copy.deepcopy(EVENT), "id": str(uuid.uuid4())}


class IngestLoad:
    def __init__(
        self,
        url: str,
        headers: dict[str, str],
        *,
        batches: int = 80,
        batch_size: int = 25,
        pause_s: float = 0.02,
        give_up_s: float = 90.0,
    ) -> None:
        self.url = url.rstrip("/") + "/v1/events"
        self.headers = {**headers, "Content-Type": "application/json"}
        self.batches = batches
        self.batch_size = batch_size
        self.pause_s = pause_s
        self.give_up_s = give_up_s
        self.accepted: list[str] = []
        self.accepted_batches = 0
        self.retries: Counter[str] = Counter()
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="ingest-load", daemon=True)

    def start(self) -> IngestLoad:
        self._thread.start()
        return self

    def join(self, timeout: float = 120.0) -> None:
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError(f"load not done after {timeout}s: {self.accepted_batches} of {self.batches} batches")

    def wait_for_batches(self, n: int, timeout: float = 60.0) -> int:
        """Block until ``n`` batches were accepted; returns how many are."""
        deadline = time.monotonic() + timeout
        while self.accepted_batches < n:
            if not self._thread.is_alive():
                raise AssertionError(f"load ended at {self.accepted_batches} batches: {self.errors[:3]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.accepted_batches} of {n} batches accepted after {timeout}s")
            time.sleep(0.01)
        return self.accepted_batches

    def _run(self) -> None:
        with httpx.Client(timeout=15.0) as client:
            for _ in range(self.batches):
                events = [new_event() for _ in range(self.batch_size)]
                self._send(client, json.dumps({"events": events}).encode(), [e["id"] for e in events])
                time.sleep(self.pause_s)

    def _send(self, client: httpx.Client, body: bytes, ids: list[str]) -> None:
        deadline = time.monotonic() + self.give_up_s
        while True:
            try:
                resp = client.post(self.url, content=body, headers=self.headers)
            except httpx.TransportError as exc:  # refused, reset, timed out: the API is restarting
                self.retries[type(exc).__name__] += 1
            else:
                if resp.status_code == 202:
                    with self._lock:
                        self.accepted.extend(ids)
                        self.accepted_batches += 1
                    return
                if resp.status_code != 503:
                    self.errors.append(f"{resp.status_code}: {resp.text[:300]}")
                    return
                self.retries["503"] += 1
            if time.monotonic() > deadline:
                self.errors.append(f"gave up on a batch after {self.give_up_s}s")
                return
            time.sleep(0.1)  # a real client waits Retry-After (1 s); shorter keeps the tests short


class Poller:
    """GETs ``url`` back to back from a thread and records (start time, status) of each request."""

    def __init__(self, url: str, *, pause_s: float = 0.02, timeout_s: float = 15.0, **client: Any) -> None:
        self.url = url
        self.client = client  # for httpx.Client: the caller's headers and cookies
        self.pause_s = pause_s
        self.timeout_s = timeout_s
        self.results: list[tuple[float, int, str]] = []  # (monotonic start, status or 0, error text)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="poller", daemon=True)

    def __enter__(self) -> Poller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(self.timeout_s + 5)

    def wait_for(self, n: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.results) < n:
            assert time.monotonic() < deadline, f"{len(self.results)} of {n} polls after {timeout}s"
            time.sleep(0.01)

    def since(self, t: float) -> list[tuple[float, int, str]]:
        return [r for r in self.results if r[0] >= t]

    def _run(self) -> None:
        with httpx.Client(timeout=self.timeout_s, **self.client) as client:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    resp = client.get(self.url)
                    self.results.append((started, resp.status_code, "" if resp.status_code == 200 else resp.text))
                except httpx.HTTPError as exc:
                    self.results.append((started, 0, repr(exc)))
                self._stop.wait(self.pause_s)
