"""HTTP transport: one gzipped ``POST /v1/events`` at a time, over a kept-alive connection."""

from __future__ import annotations

import email.utils
import gzip
import http.client
import json
import ssl
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from ._version import USER_AGENT


@dataclass
class SendResult:
    """Outcome of one POST.

    ``kind``: ``ok`` (202/207/2xx), ``retry`` (network error, 5xx, 429, 408) or ``reject`` (other 4xx:
    do not retry).
    """

    kind: str
    status: int | None = None
    accepted: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    retry_after: float | None = None
    message: str = ""


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def encode_body(event_json: list[bytes]) -> bytes:
    """``{"events": [...]}`` from already-serialised events, gzipped."""
    raw = b'{"events":[' + b",".join(event_json) + b"]}"
    return gzip.compress(raw, compresslevel=5)


class Transport:
    """Sends request bodies to ``events_url``. Not thread-safe: used by the worker thread only."""

    def __init__(self, events_url: str, api_key: str | None, timeout: float) -> None:
        u = urllib.parse.urlsplit(events_url)
        self._https = u.scheme == "https"
        self._host = u.hostname or "127.0.0.1"
        self._port = u.port or (443 if self._https else 80)
        self._path = (u.path or "/v1/events") + (f"?{u.query}" if u.query else "")
        self._timeout = timeout
        self._headers = {
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
            "User-Agent": USER_AGENT,
        }
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self._https:
                self._conn = http.client.HTTPSConnection(
                    self._host, self._port, timeout=self._timeout, context=ssl.create_default_context()
                )
            else:
                self._conn = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def post(self, body: bytes, n_events: int) -> SendResult:
        for attempt in (0, 1):
            conn = self._connection()
            try:
                conn.request("POST", self._path, body=body, headers=self._headers)
                resp = conn.getresponse()
                data = resp.read()
                status = resp.status
                retry_after = parse_retry_after(resp.getheader("Retry-After"))
                if resp.getheader("Connection", "").lower() == "close":
                    self.close()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                # A kept-alive connection the server closed meanwhile: reconnect once at once.
                self.close()
                if attempt == 0:
                    continue
                return SendResult("retry", message=f"{type(exc).__name__}: {exc}")
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                return SendResult("retry", message=f"{type(exc).__name__}: {exc}")
            return classify(status, data, retry_after, n_events)
        return SendResult("retry", message="unreachable")  # pragma: no cover


def _error_message(data: bytes) -> str:
    try:
        body = json.loads(data)
    except ValueError:
        return data[:500].decode("utf-8", "replace")
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            return f"{err.get('code', '')}: {err.get('message', '')}".strip(": ")
        if "detail" in body:
            return str(body["detail"])[:500]
    return str(body)[:500]


def classify(status: int, data: bytes, retry_after: float | None, n_events: int) -> SendResult:
    if 200 <= status < 300:
        accepted = n_events
        rejected: list[dict[str, Any]] = []
        try:
            body = json.loads(data) if data else {}
        except ValueError:
            body = {}
        if isinstance(body, dict):
            if isinstance(body.get("accepted"), int):
                accepted = body["accepted"]
            if isinstance(body.get("rejected"), list):
                rejected = [r for r in body["rejected"] if isinstance(r, dict)]
        if status == 207 and not rejected and accepted < n_events:
            rejected = [{"errors": ["rejected without details"]}] * (n_events - accepted)
        return SendResult("ok", status, accepted=accepted, rejected=rejected)
    if status in (408, 429) or status >= 500:
        return SendResult("retry", status, retry_after=retry_after, message=_error_message(data))
    return SendResult("reject", status, message=_error_message(data))
