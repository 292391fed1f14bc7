"""With a spool, the spool thread: it moves events from the in-memory queue to a write-ahead spool
segment as soon as they are logged, and hands the written batches (``ready``) to the sender. An event
on disk survives the death of the process (SIGKILL): the next process replays its segment."""

from __future__ import annotations

import threading

from ._batching import Batcher
from ._log import warn_once
from ._spool import Segment, Spool
from ._threads import Daemon, Signals


class WriteAhead(Daemon):
    """The spool thread of one client."""

    name = "prism-sdk-spool"

    def __init__(
        self, spool: Spool, batcher: Batcher, signals: Signals, *, chunk: int, interval: float
    ) -> None:
        super().__init__(signals)
        self.spool = spool
        self.batcher = batcher
        self.chunk = chunk  # events per write (at most max_unspooled)
        self.interval = interval
        # Taken from the queue and not written yet: put() counts them as not on disk.
        self.in_hand = 0

    def wake(self) -> threading.Event:
        return self.signals.write_ahead

    def run(self) -> None:
        while True:
            wake = self.wake()
            wake.wait(self.interval)
            wake.clear()
            stopping = self.stopping
            self.busy = True
            try:
                self.write()
            except Exception:
                warn_once("wal", "prism-sdk: spool thread error", exc_info=True)
            finally:
                self.busy = False
            self.signals.notify_progress()
            if stopping:
                return

    def write(self) -> None:
        """Write the queue ahead, a chunk at a time, waking the sender after each."""
        queue = self.batcher.queue
        while True:
            n = min(len(queue), self.chunk)
            if not n:
                return
            # Counted as not on disk yet before they leave the queue (put() reads both).
            self.in_hand = n
            try:
                lines = self.batcher.take(n)
                if lines is None:
                    continue
                seg: Segment | None = None
                try:
                    seg = self.spool.wal_append(lines)
                except Exception:  # disk full...: the batch is still sent, only not crash-safe
                    warn_once("wal-write", "prism-sdk: could not write ahead to the spool", exc_info=True)
                self.batcher.ready.append((seg, lines))
            finally:
                self.in_hand = 0
            self.signals.send.set()

    def after_fork(self) -> None:
        super().after_fork()
        self.in_hand = 0
