"""The sender thread: it wakes up every ``flush_interval`` (or when woken), takes a batch (from the
queue, or with a spool the batches written ahead), delivers it, and decides what a failed batch
becomes: kept in memory for a retry after the backoff, or with a spool moved to a spool file at once
(replayed by :class:`~._upkeep.SpoolUpkeep` once the API answers again)."""

from __future__ import annotations

import threading
import time

from ._batching import Acks, Batcher
from ._delivery import Delivery
from ._log import warn_once
from ._threads import Daemon, Signals
from ._upkeep import SpoolUpkeep


class Sender(Daemon):
    """The sender thread of one client."""

    name = "prism-sdk-worker"

    def __init__(
        self,
        batcher: Batcher,
        delivery: Delivery,
        upkeep: SpoolUpkeep,
        signals: Signals,
        *,
        interval: float,
    ) -> None:
        super().__init__(signals)
        self.batcher = batcher
        self.delivery = delivery
        self.upkeep = upkeep
        self.interval = interval
        self.pending: list[bytes] | None = None  # the batch being sent / waiting for a retry
        self.pending_acks: Acks = []  # with a spool: the segments of the pending batch

    def wake(self) -> threading.Event:
        return self.signals.send

    def run(self) -> None:
        backoff = self.delivery.backoff
        while True:
            wait = self.interval
            if backoff.retry_at:
                wait = min(self.interval, max(0.01, backoff.retry_at - time.monotonic()))
            wake = self.wake()
            wake.wait(wait)
            wake.clear()
            stopping = self.stopping
            try:
                self.cycle(stopping)
            except Exception:
                warn_once("worker", "prism-sdk: worker error", exc_info=True)
                self.busy = False
            self.signals.notify_progress()
            if stopping:
                self.delivery.close()
                return

    def cycle(self, stopping: bool) -> None:
        """Send batches until none is left or the API fails (when stopping: one attempt, then spool)."""
        self.busy = True
        upkeep = self.upkeep
        spooled = upkeep.spool is not None
        backoff = self.delivery.backoff
        attempted_in_stop = False
        while True:
            if self.pending is None:
                b = self.batcher
                self.pending = b.take() if not spooled else b.take_ready(self.pending_acks)
                if self.pending is None:
                    break
            batch = self.pending
            backing_off = backoff.waiting()
            if stopping and attempted_in_stop:
                backing_off = True
            if backing_off and not stopping:
                if spooled:
                    upkeep.spool_or_drop(batch, "spool_error")
                    self.done_pending()
                    continue
                break  # keep it in memory until the backoff ends
            if stopping:
                attempted_in_stop = True
                if backing_off:
                    upkeep.spool_or_drop(batch, "shutdown")
                    self.done_pending()
                    continue
            result = self.delivery.post(batch)
            if result.kind == "retry":
                self.delivery.counters.add_retried(len(batch))
                if spooled or stopping:
                    upkeep.spool_or_drop(batch, "shutdown" if stopping else "spool_error")
                    self.done_pending()
                    continue
                break
            self.done_pending()
        if spooled:
            upkeep.maintain(stopping)
        self.busy = False

    def done_pending(self) -> None:
        """The pending batch was delivered, refused, or moved to a spool file: forget it."""
        self.pending = None
        acks, self.pending_acks = self.pending_acks, []
        self.upkeep.ack(acks)

    def abandon(self) -> tuple[list[bytes], Acks]:
        """Once the thread is gone: the pending batch and those written ahead, and their segments."""
        lines: list[bytes] = []
        if self.pending:
            lines.extend(self.pending)
            self.pending = None
        acks, self.pending_acks = self.pending_acks, []
        ready = self.batcher.ready
        while ready:
            seg, chunk = ready.popleft()
            lines.extend(chunk)
            acks.append((seg, len(chunk)))
        return lines, acks

    def after_fork(self) -> None:
        super().after_fork()
        self.pending = None
        self.pending_acks = []
