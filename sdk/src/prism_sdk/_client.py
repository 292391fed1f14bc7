"""The client: an O(1) ``log`` feeding a background thread that batches, gzips, POSTs, retries, spools."""

from __future__ import annotations

import atexit
import collections
import functools
import json
import logging
import os
import random
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from . import _event
from ._config import ENV_INGEST_URL, MAX_REQUEST_BYTES, Settings
from ._spool import Segment, Spool
from ._transport import SendResult, Transport, encode_body

logger = logging.getLogger("prism_sdk")

_warned: set[str] = set()
_warned_lock = threading.Lock()


def warn_once(
    key: str, msg: str, *args: object, level: int = logging.WARNING, exc_info: bool = False
) -> None:
    """Log ``msg`` the first time ``key`` is seen in this process, at debug level afterwards."""
    with _warned_lock:
        first = key not in _warned
        _warned.add(key)
    logger.log(level if first else logging.DEBUG, msg, *args, exc_info=exc_info)


class Buildable(Protocol):
    """A call record that becomes an event dict on demand (in the worker thread, or when asked)."""

    def build(self) -> dict[str, Any]: ...


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


def _json_default(o: Any) -> Any:
    return _event.to_jsonable(o)


def serialize(item: Buildable | Mapping[str, Any]) -> bytes:
    ev = item.build() if not isinstance(item, Mapping) else _event.normalize(dict(item))
    return json.dumps(ev, separators=(",", ":"), ensure_ascii=False, default=_json_default).encode()


class Prism:
    """A Prism client. Most code uses the module-level default (``prism_sdk.init`` / env variables).

    Args (each falls back to its ``PRISM_*`` variable, then to its default; see ``sdk/README.md``):
        ingest_url: base URL of the ingestion API; None and no ``PRISM_INGEST_URL``: a no-op client.
        api_key: sent as ``Authorization: Bearer``.
        spool_dir: directory of the durable spool (off when None).
    """

    def __init__(
        self,
        ingest_url: str | None = None,
        api_key: str | None = None,
        spool_dir: str | None = None,
        *,
        spool_max_bytes: int | None = None,
        max_queue: int | None = None,
        max_unspooled: int | None = None,
        batch_size: int | None = None,
        flush_interval: float | None = None,
        timeout: float | None = None,
        max_backoff: float | None = None,
        enabled: bool | None = None,
        capture_content: bool | None = None,
        lambda_flush_timeout: float | None = None,
    ) -> None:
        self.settings = Settings.resolve(
            ingest_url=ingest_url,
            api_key=api_key,
            spool_dir=spool_dir,
            spool_max_bytes=spool_max_bytes,
            max_queue=max_queue,
            max_unspooled=max_unspooled,
            batch_size=batch_size,
            flush_interval=flush_interval,
            timeout=timeout,
            max_backoff=max_backoff,
            enabled=enabled,
            capture_content=capture_content,
            lambda_flush_timeout=lambda_flush_timeout,
        )
        s = self.settings
        self.active = s.active
        self.capture_content = s.capture_content
        self._max_queue = s.max_queue
        # With a spool, log() writes to it itself beyond this many events not on disk yet: the
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
        self.spool: Spool | None = None
        self._transport: Transport | None = None
        if not s.enabled:
            return
        if not s.ingest_url:
            warn_once(
                "no-url",
                "prism-sdk: %s is not set: LLM calls are not logged (the SDK is a no-op)",
                ENV_INGEST_URL,
            )
            return
        if s.spool_dir:
            self.spool = Spool(s.spool_dir, s.spool_max_bytes)
        self._transport = Transport(s.events_url, s.api_key, s.timeout)
        ref = weakref.ref(self)
        os.register_at_fork(after_in_child=functools.partial(_after_fork, ref))
        atexit.register(_atexit_shutdown, ref)
        if self.spool is not None and self.spool.has_files():
            self._ensure_thread()  # replay what a previous process left behind

    # ------------------------------------------------------------------ caller side
    def log(self, event: Buildable | Mapping[str, Any]) -> None:
        """Queue one event (a dict in the inference event v1 shape, or a call record). O(1); never raises.

        Missing ``id``, ``schema_version`` and ``sdk`` are filled in; ``datetime`` values become RFC 3339.
        """
        if not self.active:
            return
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
                self._ensure_thread()
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

    def flush(self, timeout: float | None = 5.0) -> bool:
        """Deliver everything logged so far. True when every event is delivered (or dropped, and
        counted): none left in memory, none waiting in the spool.

        Blocks up to ``timeout`` seconds (None: no limit) and never raises. With a spool it never
        sleeps through a retry's backoff: while the client backs off after a failed request, it
        returns False as soon as every event is on disk, and the events are replayed when the API
        answers again (``stats().spool_pending`` says how many wait). It does wait for a request in
        flight (up to ``timeout``), and, while the API answers, for the replay of what the spool held.
        Without a spool, events can only wait in memory: it waits for the retries, up to ``timeout``.
        """
        if not self.active or self._closed:
            return True
        self._ensure_thread()
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

    def shutdown(self, timeout: float = 5.0) -> None:
        """Flush, stop the worker and close the spool. Idempotent; ``log`` is a no-op afterwards."""
        if not self.active or self._closed:
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

    def _after_fork(self) -> None:
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
        if self._transport is not None:
            s = self.settings
            self._transport = Transport(s.events_url, s.api_key, s.timeout)

    def _ensure_thread(self) -> None:
        if self._thread is not None or not self.active:
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
                if self._transport is not None:
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
        assert self._transport is not None
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


def _after_fork(ref: weakref.ref[Prism]) -> None:
    client = ref()
    if client is not None:
        client._after_fork()


def _atexit_shutdown(ref: weakref.ref[Prism]) -> None:
    client = ref()
    if client is not None:
        client.shutdown(timeout=2.0)


def backoff_delay(
    failures: int, cap: float, uniform: Callable[[float, float], float] = random.uniform
) -> float:
    """Seconds to wait after ``failures`` consecutive failures: exponential (0.25 s, 0.5 s, 1 s...,
    capped at ``cap``) with "equal jitter" (a random point in the upper half), so that many clients
    do not retry in lockstep."""
    delay = min(cap, 0.25 * 2.0 ** min(max(failures, 1) - 1, 20))
    return delay / 2 + uniform(0, delay / 2)


def new_event_id() -> str:
    return _event.uuid7()
