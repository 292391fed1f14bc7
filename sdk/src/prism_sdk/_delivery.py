"""Delivery of one batch: the POST (through :mod:`._transport`), what its answer means for the
counters, and the backoff (exponential, with jitter) after a request that failed."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from ._config import Settings
from ._log import warn_once
from ._stats import Counters
from ._transport import SendResult, Transport, encode_body


def backoff_delay(
    failures: int, cap: float, uniform: Callable[[float, float], float] = random.uniform
) -> float:
    """Seconds to wait after ``failures`` consecutive failures: exponential (0.25 s, 0.5 s, 1 s...,
    capped at ``cap``) with "equal jitter" (a random point in the upper half), so that many clients
    do not retry in lockstep."""
    delay = min(cap, 0.25 * 2.0 ** min(max(failures, 1) - 1, 20))
    return delay / 2 + uniform(0, delay / 2)


class Backoff:
    """Consecutive failed requests, and when (``time.monotonic()``) the next one may be made."""

    def __init__(self, cap: float) -> None:
        self.cap = cap
        self.failures = 0
        self.retry_at = 0.0
        self.uniform: Callable[[float, float], float] = random.uniform  # the jitter's source (tests)

    def waiting(self) -> bool:
        """Backing off: no request before ``retry_at``."""
        return time.monotonic() < self.retry_at

    def fail(self, retry_after: float | None) -> None:
        self.failures += 1
        delay = backoff_delay(self.failures, self.cap, self.uniform)
        if retry_after is not None:
            delay = max(delay, min(retry_after, 300.0))
        self.retry_at = time.monotonic() + delay

    def reset(self) -> None:
        self.failures = 0
        self.retry_at = 0.0


class Delivery:
    """Posts batches of serialised events and accounts for the answer. Used by the sender thread only
    (the transport is not thread-safe)."""

    def __init__(self, settings: Settings, counters: Counters) -> None:
        self.settings = settings
        self.counters = counters
        self.backoff = Backoff(settings.max_backoff)
        self.transport = self._new_transport()

    def _new_transport(self) -> Transport:
        s = self.settings
        return Transport(s.events_url, s.api_key, s.timeout)

    def post(self, lines: list[bytes]) -> SendResult:
        """One request. ``ok``: counted sent (its rejected events dropped); ``reject``: the batch is
        dropped; ``retry``: the backoff is scheduled, and the batch is the caller's to keep."""
        result = self.transport.post(encode_body(lines), len(lines))
        counters = self.counters
        if result.kind != "ok":
            status = f"HTTP {result.status}" if result.status else "network error"
            counters.failed(f"{status}: {result.message}" if result.message else status)
        if result.kind == "retry":
            self._retry_later(result)
            return result
        self.backoff.reset()
        if result.kind == "ok":
            counters.add_sent(result.accepted)
            if result.rejected:
                counters.drop("rejected", len(result.rejected))
                first = result.rejected[0]
                warn_once(
                    "rejected",
                    "prism-sdk: the server rejected %d event(s), e.g. %s: %s",
                    len(result.rejected),
                    first.get("id"),
                    first.get("errors"),
                )
        else:
            counters.drop(f"http_{result.status}", len(lines))
            warn_once(
                f"reject-{result.status}",
                "prism-sdk: the server refused a batch of %d event(s) with HTTP %s: %s (not retried)",
                len(lines),
                result.status,
                result.message,
            )
        return result

    def _retry_later(self, result: SendResult) -> None:
        self.backoff.fail(result.retry_after)
        warn_once(
            f"retry-{result.status}",
            "prism-sdk: ingestion unavailable (%s %s): retrying with backoff",
            result.status or "network error",
            result.message,
        )

    def close(self) -> None:
        self.transport.close()

    def after_fork(self) -> None:
        self.transport = self._new_transport()  # the parent's connection is the parent's
