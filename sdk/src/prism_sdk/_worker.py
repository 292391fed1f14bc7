"""The background side of a client: a bounded in-memory queue drained by a daemon thread that batches,
POSTs (through :mod:`._transport`), retries with backoff and keeps the spool (:mod:`._spool`); with a
spool, a second daemon thread writes every event ahead to it as soon as it is logged.

:class:`Worker` is what :class:`prism_sdk.Prism` delegates to; its ``put`` is ``log``'s O(1) body.
"""

from __future__ import annotations

import collections
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ._config import MAX_REQUEST_BYTES, Settings
from ._event import Buildable, serialize
from ._log import warn_once
from ._spool import Segment, Spool
from ._transport import SendResult, Transport, encode_body


@dataclass(frozen=True)
class Stats:
    """Counters since the client started (events, not requests), and the state of delivery now.

    ``sent``: accepted by the server (including replays from the spool); ``retried``: events in a
    request that failed and was retried later; ``spooled``: written to the spool (other than the
    write-ahead copy of every batch); ``replayed``: read back from the spool and accepted;
    ``dropped``: lost, by reason (``queue_full``, ``rejected``, ``http_401``..., ``too_large``,
    ``invalid``, ``spool_full``, ``shutdown``, ``closed``); ``queued``: held in memory now.

    ``spool_pending``: events waiting in the spool for a replay now (this process's and those left by
    processes that died; not the write-ahead copies of the batches counted in ``queued``), and
    ``spool_oldest_at`` the wall time (``time.time()``) the oldest of their files was started.
    ``failures``: consecutive failed requests (network error, 408, 429, 5xx) since the last answer;
    ``last_error`` / ``last_error_at``: the last failure or refusal (4xx) and its wall time;
    ``last_sent_at``: the wall time of the last request the server accepted.
    """

    sent: int = 0
    retried: int = 0
    spooled: int = 0
    replayed: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    queued: int = 0
    spool_pending: int = 0
    spool_oldest_at: float | None = None
    failures: int = 0
    last_error: str = ""
    last_error_at: float | None = None
    last_sent_at: float | None = None

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())

    @property
    def failing(self) -> bool:
        """The last request failed or was refused, and none was accepted since."""
        return self.last_error_at is not None and (
            self.last_sent_at is None or self.last_error_at >= self.last_sent_at
        )


class Worker:
    """Queue, threads, retries and spool upkeep of one active client (``settings.active``)."""

    def __init__(self, settings: Settings, spool: Spool | None) -> None:
        s = self.settings = settings
        self.spool = spool
        self._max_queue = s.max_queue
        # With a spool, put() writes to it itself beyond this many events not on disk yet: the
        # queue, plus what the spool thread took from it and has not written yet (_wal_inhand).
        self._max_unspooled = min(s.max_unspooled, s.max_queue)
        self._wal_inhand = 0
        self._batch_size = s.batch_size
        self._queue: collections.deque[Buildable | Mapping[str, Any]] = collections.deque()
        self._wake = threading.Event()
        self._cond = threading.Condition()
        self._stats_lock = threading.Lock()
        self._sent = self._retried = self._spooled = self._replayed = 0
        self._dropped: dict[str, int] = {}
        self._pending: list[bytes] | None = None  # the batch being sent / waiting for a retry
        # With a spool: batches already written ahead to a spool segment, waiting to be sent, and the
        # segments (with their number of events) of the pending batch, acknowledged once it is done.
        self._ready: collections.deque[tuple[Segment | None, list[bytes]]] = collections.deque()
        self._pending_segs: list[tuple[Segment | None, int]] = []
        self._wal_wake = threading.Event()
        self._wal_busy = False
        self._wal_stopping = False
        self._wal_thread: threading.Thread | None = None
        self._uniform: Callable[[float, float], float] = random.uniform  # the jitter's source (tests)
        self._busy = False
        self._failures = 0
        self._retry_at = 0.0
        self._last_error = ""
        self._last_error_at: float | None = None
        self._last_sent_at: float | None = None
        self._next_trim = 0.0
        self._stopping = False
        self._closed = False
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._transport = self._new_transport()

    def _new_transport(self) -> Transport:
        s = self.settings
        return Transport(s.events_url, s.api_key, s.timeout)

    # ------------------------------------------------------------------ caller side
    def put(self, event: Buildable | Mapping[str, Any]) -> None:
        """Queue one event (a dict in the inference event v1 shape, or a call record). O(1); never raises.

        This is :meth:`prism_sdk.Prism.log` of an active client.
        """
        try:
            if self._closed:
                self._drop("closed", 1)
                return
            q = self._queue
            if self.spool is not None:
                # Never more than max_unspooled events only in memory: beyond, write this one now.
                if len(q) + self._wal_inhand >= self._max_unspooled:
                    self._overflow(event)
                    return
            elif len(q) >= self._max_queue:
                self._overflow(event)
                return
            q.append(event)
            if self._thread is None:
                self.ensure_started()
            if self.spool is not None:
                # Write-ahead: the spool thread takes it at once (one set() per wake-up, not per event).
                if not self._wal_wake.is_set():
                    self._wal_wake.set()
            elif len(q) >= self._batch_size and not self._wake.is_set():
                self._wake.set()
        except Exception:  # never raise into the caller
            warn_once("log-error", "prism-sdk: could not queue an event", exc_info=True)

    def _overflow(self, event: Buildable | Mapping[str, Any]) -> None:
        if self.spool is None:
            self._drop("queue_full", 1)
            warn_once("queue-full", "prism-sdk: queue full (%d events): events dropped", self._max_queue)
            return
        try:
            self.spool.append(serialize(event))
        except Exception:
            self._drop("queue_full", 1)
            warn_once("spool-append", "prism-sdk: could not spool an event", exc_info=True)
            return
        with self._stats_lock:
            self._spooled += 1

    def _drop(self, reason: str, n: int) -> None:
        if n <= 0:
            return
        with self._stats_lock:
            self._dropped[reason] = self._dropped.get(reason, 0) + n

    def stats(self) -> Stats:
        pending, oldest = self._backlog()
        with self._stats_lock:
            return Stats(
                sent=self._sent,
                retried=self._retried,
                spooled=self._spooled,
                replayed=self._replayed,
                dropped=dict(self._dropped),
                queued=len(self._queue)
                + self._wal_inhand
                + sum(len(lines) for _, lines in list(self._ready))
                + (len(self._pending) if self._pending else 0),
                spool_pending=pending,
                spool_oldest_at=None if oldest is None else oldest / 1e9,
                failures=self._failures,
                last_error=self._last_error,
                last_error_at=self._last_error_at,
                last_sent_at=self._last_sent_at,
            )

    def _backlog(self) -> tuple[int, int | None]:
        if self.spool is None or self._closed:
            return 0, None
        try:
            return self.spool.backlog()
        except OSError:
            return 0, None

    def flush(self, timeout: float | None) -> bool:
        """Wait until everything put so far is delivered (see :meth:`prism_sdk.Prism.flush`)."""
        if self._closed:
            return True
        self.ensure_started()
        deadline = None if timeout is None else time.monotonic() + timeout
        spool = self.spool
        with self._cond:
            while True:
                if self._drained():
                    if spool is None or self._backlog()[0] == 0:
                        return True
                    # Backing off after a failure: the worker makes no request until _retry_at (and,
                    # with a spool, moves every batch to a spool file at once: local work only).
                    if self._failures and time.monotonic() < self._retry_at:
                        return False
                self._wal_wake.set()
                self._wake.set()
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(0.05 if left is None else min(left, 0.05))

    def _drained(self) -> bool:
        return (
            not self._queue
            and not self._ready
            and not self._wal_busy
            and self._pending is None
            and not self._busy
        )

    def shutdown(self, timeout: float) -> None:
        """Flush, stop both threads and close the spool. Idempotent; ``put`` drops afterwards."""
        if self._closed:
            return
        self.flush(timeout)
        w = self._wal_thread
        if w is not None and w.is_alive():
            self._wal_stopping = True
            self._wal_wake.set()
            w.join(max(0.1, timeout / 4))
        self._stopping = True
        self._wake.set()
        t = self._thread
        if t is not None and t.is_alive():
            t.join(max(0.1, timeout / 2))
        self._closed = True
        leftovers: list[bytes] = []
        if w is None or not w.is_alive():
            while self._queue:
                item = self._queue.popleft()
                try:
                    leftovers.append(serialize(item))
                except Exception:
                    self._drop("invalid", 1)
        if t is None or not t.is_alive():
            if self._pending:
                leftovers.extend(self._pending)
                self._pending = None
            acks, self._pending_segs = self._pending_segs, []
            while self._ready:
                seg, lines = self._ready.popleft()
                leftovers.extend(lines)
                acks.append((seg, len(lines)))
            if leftovers:
                self._spool_or_drop(leftovers, "shutdown")
            self._ack(acks)
        elif leftovers:
            self._spool_or_drop(leftovers, "shutdown")
        if self.spool is not None:
            self.spool.close()  # segments still written ahead (a send in flight) become replayable

    def after_fork(self) -> None:
        # The child has no worker thread; what the parent queued is the parent's to send.
        self._queue.clear()
        self._pending = None
        self._ready = collections.deque()
        self._pending_segs = []
        self._busy = self._wal_busy = False
        self._wal_inhand = 0
        self._thread = self._wal_thread = None
        self._wal_wake = threading.Event()
        self._wake = threading.Event()
        self._cond = threading.Condition()
        self._stats_lock = threading.Lock()
        self._start_lock = threading.Lock()
        self._transport = self._new_transport()

    def ensure_started(self) -> None:
        if self._thread is not None:
            return
        with self._start_lock:
            if self._thread is None:
                if self.spool is not None:
                    w = threading.Thread(target=self._run_wal, name="prism-sdk-spool", daemon=True)
                    w.start()
                    self._wal_thread = w
                t = threading.Thread(target=self._run, name="prism-sdk-worker", daemon=True)
                t.start()
                self._thread = t

    # ------------------------------------------------------------------ write-ahead (spool thread)
    def _run_wal(self) -> None:
        """With a spool: move events from the queue to a spool segment as soon as they are logged."""
        interval = self.settings.flush_interval
        while True:
            self._wal_wake.wait(interval)
            self._wal_wake.clear()
            stopping = self._wal_stopping
            self._wal_busy = True
            try:
                self._write_ahead()
            except Exception:
                warn_once("wal", "prism-sdk: spool thread error", exc_info=True)
            finally:
                self._wal_busy = False
            with self._cond:
                self._cond.notify_all()
            if stopping:
                return

    def _write_ahead(self) -> None:
        spool = self.spool
        assert spool is not None
        chunk = min(self._batch_size, self._max_unspooled)
        while True:
            n = min(len(self._queue), chunk)
            if not n:
                return
            # Counted as not on disk yet before they leave the queue (log() reads both).
            self._wal_inhand = n
            try:
                lines = self._take_batch(n)
                if lines is None:
                    continue
                seg: Segment | None = None
                try:
                    seg = spool.wal_append(lines)
                except Exception:  # disk full...: the batch is still sent, only not crash-safe
                    warn_once("wal-write", "prism-sdk: could not write ahead to the spool", exc_info=True)
                self._ready.append((seg, lines))
            finally:
                self._wal_inhand = 0
            self._wake.set()

    def _take_ready(self) -> list[bytes] | None:
        """Merge batches written ahead into one request (up to the count and bytes caps)."""
        lines: list[bytes] = []
        size = 0
        ready = self._ready
        while ready:
            seg, chunk = ready[0]
            extra = sum(len(x) + 1 for x in chunk)
            if lines and (len(lines) + len(chunk) > self._batch_size or size + extra > MAX_REQUEST_BYTES):
                break
            ready.popleft()
            lines.extend(chunk)
            size += extra
            self._pending_segs.append((seg, len(chunk)))
        return lines or None

    def _ack(self, acks: list[tuple[Segment | None, int]]) -> None:
        if self.spool is None:
            return
        for seg, n in acks:
            if seg is not None:
                try:
                    self.spool.wal_ack(seg, n)
                except Exception:
                    warn_once("wal-ack", "prism-sdk: could not update the spool", exc_info=True)

    def _done_pending(self) -> None:
        """The pending batch was delivered, refused, or moved to a spool file: forget it."""
        self._pending = None
        acks, self._pending_segs = self._pending_segs, []
        self._ack(acks)

    # ------------------------------------------------------------------ worker side
    def _run(self) -> None:
        interval = self.settings.flush_interval
        while True:
            wait = interval
            if self._retry_at:
                wait = min(interval, max(0.01, self._retry_at - time.monotonic()))
            self._wake.wait(wait)
            self._wake.clear()
            stopping = self._stopping
            try:
                self._cycle(stopping)
            except Exception:
                warn_once("worker", "prism-sdk: worker error", exc_info=True)
                self._busy = False
            with self._cond:
                self._cond.notify_all()
            if stopping:
                self._transport.close()
                return

    def _take_batch(self, limit: int | None = None) -> list[bytes] | None:
        """Up to ``limit`` (default: a batch) events from the queue, serialised."""
        q = self._queue
        lines: list[bytes] = []
        size = 0
        left = self._batch_size if limit is None else limit
        while q and left > 0:
            left -= 1
            item = q.popleft()
            try:
                line = serialize(item)
            except Exception:
                self._drop("invalid", 1)
                warn_once("serialize", "prism-sdk: could not serialise an event: dropped", exc_info=True)
                continue
            if len(line) + 64 > MAX_REQUEST_BYTES:
                self._drop("too_large", 1)
                warn_once("too-large", "prism-sdk: an event of %d bytes is too large: dropped", len(line))
                continue
            if size + len(line) + 1 > MAX_REQUEST_BYTES:
                q.appendleft(item)
                break
            lines.append(line)
            size += len(line) + 1
        return lines or None

    def _cycle(self, stopping: bool) -> None:
        self._busy = True
        spool = self.spool
        attempted_in_stop = False
        while True:
            if self._pending is None:
                self._pending = self._take_batch() if spool is None else self._take_ready()
                if self._pending is None:
                    break
            batch = self._pending
            backing_off = time.monotonic() < self._retry_at
            if stopping and attempted_in_stop:
                backing_off = True
            if backing_off and not stopping:
                if spool is not None:
                    self._spool_or_drop(batch, "spool_error")
                    self._done_pending()
                    continue
                break  # keep it in memory until the backoff ends
            if stopping:
                attempted_in_stop = True
                if backing_off:
                    self._spool_or_drop(batch, "shutdown")
                    self._done_pending()
                    continue
            result = self._post(batch)
            if result.kind == "retry":
                self._schedule_retry(result)
                with self._stats_lock:
                    self._retried += len(batch)
                if spool is not None or stopping:
                    self._spool_or_drop(batch, "shutdown" if stopping else "spool_error")
                    self._done_pending()
                    continue
                break
            self._done_pending()
        if spool is not None:
            self._maintain_spool(stopping)
        self._busy = False

    def _spool_or_drop(self, lines: list[bytes], reason: str) -> None:
        if self.spool is not None:
            try:
                self.spool.write_batch(lines)
            except Exception:
                warn_once("spool-write", "prism-sdk: could not write to the spool", exc_info=True)
            else:
                with self._stats_lock:
                    self._spooled += len(lines)
                return
        self._drop(reason, len(lines))

    def _schedule_retry(self, result: SendResult) -> None:
        self._failures += 1
        delay = backoff_delay(self._failures, self.settings.max_backoff, self._uniform)
        if result.retry_after is not None:
            delay = max(delay, min(result.retry_after, 300.0))
        self._retry_at = time.monotonic() + delay
        warn_once(
            f"retry-{result.status}",
            "prism-sdk: ingestion unavailable (%s %s): retrying with backoff",
            result.status or "network error",
            result.message,
        )

    def _post(self, lines: list[bytes]) -> SendResult:
        result = self._transport.post(encode_body(lines), len(lines))
        if result.kind != "ok":
            status = f"HTTP {result.status}" if result.status else "network error"
            self._last_error = f"{status}: {result.message}" if result.message else status
            self._last_error_at = time.time()
        if result.kind == "retry":
            return result
        self._failures = 0
        self._retry_at = 0.0
        if result.kind == "ok":
            with self._stats_lock:
                self._sent += result.accepted
                self._last_sent_at = time.time()
            if result.rejected:
                self._drop("rejected", len(result.rejected))
                first = result.rejected[0]
                warn_once(
                    "rejected",
                    "prism-sdk: the server rejected %d event(s), e.g. %s: %s",
                    len(result.rejected),
                    first.get("id"),
                    first.get("errors"),
                )
        else:
            self._drop(f"http_{result.status}", len(lines))
            warn_once(
                f"reject-{result.status}",
                "prism-sdk: the server refused a batch of %d event(s) with HTTP %s: %s (not retried)",
                len(lines),
                result.status,
                result.message,
            )
        return result

    def _maintain_spool(self, stopping: bool) -> None:
        spool = self.spool
        assert spool is not None
        now = time.monotonic()
        if now >= self._next_trim:
            self._next_trim = now + 1.0
            trimmed = spool.trim()
            if trimmed:
                self._drop("spool_full", trimmed)
                warn_once("spool-full", "prism-sdk: spool over its size limit: oldest events deleted")
        if stopping or now < self._retry_at:
            return
        if len(self._queue) < self._max_queue // 2:
            spool.seal()  # the overflow file becomes replayable
        deadline = now + 1.0
        for claim in spool.claims():
            lines = claim.lines
            i = 0
            ok = True
            while i < len(lines):
                chunk: list[bytes] = []
                size = 0
                while i < len(lines) and len(chunk) < self._batch_size:
                    if chunk and size + len(lines[i]) > MAX_REQUEST_BYTES:
                        break
                    chunk.append(lines[i])
                    size += len(lines[i]) + 1
                    i += 1
                result = self._post(chunk)
                if result.kind == "retry":
                    self._schedule_retry(result)
                    i -= len(chunk)
                    ok = False
                    break
                if result.kind == "ok":
                    with self._stats_lock:
                        self._replayed += result.accepted
            claim.keep(lines[i:]) if not ok else claim.done()
            if not ok or time.monotonic() > deadline or self._queue or self._ready:
                break
        if spool.has_files():
            self._wake.set()  # more to replay: come back soon (after live events)


def backoff_delay(
    failures: int, cap: float, uniform: Callable[[float, float], float] = random.uniform
) -> float:
    """Seconds to wait after ``failures`` consecutive failures: exponential (0.25 s, 0.5 s, 1 s...,
    capped at ``cap``) with "equal jitter" (a random point in the upper half), so that many clients
    do not retry in lockstep."""
    delay = min(cap, 0.25 * 2.0 ** min(max(failures, 1) - 1, 20))
    return delay / 2 + uniform(0, delay / 2)
