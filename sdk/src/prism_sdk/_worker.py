"""The background side of an active client: :class:`Worker` wires the parts, each with one job:

* the in-memory queue, which ``put`` (``log``'s O(1) body) appends to within its caps, and
  :class:`~._batching.Batcher`, which cuts it into batches within one request's caps;
* :class:`~._sender.Sender`, the daemon thread that sends them through :class:`~._delivery.Delivery`
  (the POST, retries with backoff);
* with a spool, :class:`~._write_ahead.WriteAhead`, a second daemon thread that writes every event
  ahead to a spool segment as soon as it is logged, and :class:`~._upkeep.SpoolUpkeep` (spooling of
  what cannot wait in memory, the size cap, the replay of spooled batches).
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from ._batching import Batcher, Queue, Ready
from ._config import Settings
from ._delivery import Delivery
from ._event import Buildable
from ._log import warn_once
from ._sender import Sender
from ._spool import Spool
from ._stats import Counters, Stats
from ._threads import Signals
from ._upkeep import SpoolUpkeep
from ._write_ahead import WriteAhead


class Worker:
    """Queue, threads, retries and spool upkeep of one active client (``settings.active``)."""

    def __init__(self, settings: Settings, spool: Spool | None) -> None:
        s = settings
        self.spool = spool
        self._max_queue = s.max_queue
        # With a spool, put() writes to it itself beyond this many events not on disk yet: the
        # queue, plus what the spool thread took from it and has not written yet (its in_hand).
        self._max_unspooled = min(s.max_unspooled, s.max_queue)
        self._batch_size = s.batch_size
        self._queue: Queue = collections.deque()
        self._ready: Ready = collections.deque()
        self._counters = Counters()
        self._signals = Signals()
        self._batcher = Batcher(self._queue, self._ready, s.batch_size, self._counters)
        self._delivery = Delivery(s, self._counters)
        self._upkeep = SpoolUpkeep(spool, self._batcher, self._delivery, self._signals, max_queue=s.max_queue)
        self._sender = Sender(self._batcher, self._delivery, self._upkeep, self._signals, interval=s.flush_interval)
        self._write_ahead: WriteAhead | None = None
        if spool is not None:
            chunk = min(s.batch_size, self._max_unspooled)
            self._write_ahead = WriteAhead(spool, self._batcher, self._signals, chunk=chunk, interval=s.flush_interval)
        self._started = False
        self._closed = False
        self._start_lock = threading.Lock()

    # ------------------------------------------------------------------ caller side
    def put(self, event: Buildable | Mapping[str, Any]) -> None:
        """Queue one event (a dict in the inference event v1 shape, or a call record). O(1); never raises.

        This is :meth:`prism_sdk.Prism.log` of an active client.
        """
        try:
            if self._closed:
                self._counters.drop("closed", 1)
                return
            q = self._queue
            wa = self._write_ahead
            if wa is not None:
                # Never more than max_unspooled events only in memory: beyond, write this one now.
                if len(q) + wa.in_hand >= self._max_unspooled:
                    self._upkeep.overflow(event)
                    return
            elif len(q) >= self._max_queue:
                self._upkeep.overflow(event)
                return
            q.append(event)
            if not self._started:
                self.ensure_started()
            if wa is not None:
                # Write-ahead: the spool thread takes it at once (one set() per wake-up, not per event).
                wake = self._signals.write_ahead
                if not wake.is_set():
                    wake.set()
            elif len(q) >= self._batch_size and not self._signals.send.is_set():
                self._signals.send.set()
        except Exception:  # never raise into the caller
            warn_once("log-error", "prism-sdk: could not queue an event", exc_info=True)

    def stats(self) -> Stats:
        pending, oldest = self._backlog()
        return self._counters.snapshot(
            queued=self._queued(),
            spool_pending=pending,
            spool_oldest_at=None if oldest is None else oldest / 1e9,
            failures=self._delivery.backoff.failures,
        )

    def _queued(self) -> int:
        """Events held in memory (or written ahead and not sent yet)."""
        wa = self._write_ahead
        pending = self._sender.pending
        return (
            len(self._queue)
            + (wa.in_hand if wa is not None else 0)
            + sum(len(lines) for _, lines in list(self._ready))
            + (len(pending) if pending else 0)
        )

    def _backlog(self) -> tuple[int, int | None]:
        return (0, None) if self._closed else self._upkeep.backlog()

    def flush(self, timeout: float | None) -> bool:
        """Wait until everything put so far is delivered (see :meth:`prism_sdk.Prism.flush`)."""
        if self._closed:
            return True
        self.ensure_started()
        deadline = None if timeout is None else time.monotonic() + timeout
        signals = self._signals
        backoff = self._delivery.backoff
        with signals.progress:
            while True:
                if self._drained():
                    if self.spool is None or self._backlog()[0] == 0:
                        return True
                    # Backing off after a failure: the sender makes no request until retry_at (and,
                    # with a spool, moves every batch to a spool file at once: local work only).
                    if backoff.failures and backoff.waiting():
                        return False
                signals.write_ahead.set()
                signals.send.set()
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                signals.progress.wait(0.05 if left is None else min(left, 0.05))

    def _drained(self) -> bool:
        wa = self._write_ahead
        return (
            not self._queue
            and not self._ready
            and not (wa is not None and wa.busy)
            and self._sender.pending is None
            and not self._sender.busy
        )

    def shutdown(self, timeout: float) -> None:
        """Flush, stop both threads and close the spool. Idempotent; ``put`` drops afterwards."""
        if self._closed:
            return
        self.flush(timeout)
        wa = self._write_ahead
        wa_running = wa is not None and wa.stop(max(0.1, timeout / 4))
        sender_running = self._sender.stop(max(0.1, timeout / 2))
        self._closed = True
        leftovers = [] if wa_running else self._batcher.drain()
        upkeep = self._upkeep
        if not sender_running:
            lines, acks = self._sender.abandon()
            leftovers.extend(lines)
            if leftovers:
                upkeep.spool_or_drop(leftovers, "shutdown")
            upkeep.ack(acks)
        elif leftovers:
            upkeep.spool_or_drop(leftovers, "shutdown")
        if self.spool is not None:
            self.spool.close()  # segments still written ahead (a send in flight) become replayable

    def after_fork(self) -> None:
        # The child has no background thread; what the parent queued is the parent's to send.
        self._queue.clear()
        self._ready.clear()
        self._sender.after_fork()
        if self._write_ahead is not None:
            self._write_ahead.after_fork()
        self._started = False
        self._signals.renew()
        self._counters.after_fork()
        self._start_lock = threading.Lock()
        self._delivery.after_fork()

    def ensure_started(self) -> None:
        if self._started:
            return
        with self._start_lock:
            if not self._started:
                if self._write_ahead is not None:
                    self._write_ahead.start()
                self._sender.start()
                self._started = True

    # The tests' hooks on the backoff: its jitter source, and its count of failures.
    @property
    def _uniform(self) -> Callable[[float, float], float]:
        return self._delivery.backoff.uniform

    @_uniform.setter
    def _uniform(self, uniform: Callable[[float, float], float]) -> None:
        self._delivery.backoff.uniform = uniform

    @property
    def _failures(self) -> int:
        return self._delivery.backoff.failures

    @_failures.setter
    def _failures(self, n: int) -> None:
        self._delivery.backoff.failures = n
