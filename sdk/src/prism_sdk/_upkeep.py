"""The spool's upkeep (:mod:`._spool`): what cannot wait in memory goes to a spool file (or, without
a spool, is dropped and counted), write-ahead segments are acknowledged once their batches are done,
the spool is kept under its size cap, and spooled batches are replayed while the API answers."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from ._batching import Acks, Batcher
from ._delivery import Delivery
from ._event import Buildable, serialize
from ._log import warn_once
from ._spool import Spool
from ._threads import Signals


class SpoolUpkeep:
    """Everything one client does with its spool (``spool`` None: no spool, and the same calls drop)."""

    def __init__(
        self, spool: Spool | None, batcher: Batcher, delivery: Delivery, signals: Signals, *, max_queue: int
    ) -> None:
        self.spool = spool
        self.batcher = batcher
        self.delivery = delivery
        self.counters = delivery.counters
        self.signals = signals
        self.max_queue = max_queue
        self._next_trim = 0.0

    def overflow(self, event: Buildable | Mapping[str, Any]) -> None:
        """An event beyond what may wait in memory: to the spool's overflow file, or dropped."""
        if self.spool is None:
            self.counters.drop("queue_full", 1)
            warn_once("queue-full", "prism-sdk: queue full (%d events): events dropped", self.max_queue)
            return
        try:
            self.spool.append(serialize(event))
        except Exception:
            self.counters.drop("queue_full", 1)
            warn_once("spool-append", "prism-sdk: could not spool an event", exc_info=True)
            return
        self.counters.add_spooled(1)

    def spool_or_drop(self, lines: list[bytes], reason: str) -> None:
        """A batch that will not be sent now: to a spool file for a replay, or dropped for ``reason``."""
        if self.spool is not None:
            try:
                self.spool.write_batch(lines)
            except Exception:
                warn_once("spool-write", "prism-sdk: could not write to the spool", exc_info=True)
            else:
                self.counters.add_spooled(len(lines))
                return
        self.counters.drop(reason, len(lines))

    def ack(self, acks: Acks) -> None:
        """The batches written ahead to these segments are done (delivered, refused or spooled)."""
        if self.spool is None:
            return
        for seg, n in acks:
            if seg is not None:
                try:
                    self.spool.wal_ack(seg, n)
                except Exception:
                    warn_once("wal-ack", "prism-sdk: could not update the spool", exc_info=True)

    def backlog(self) -> tuple[int, int | None]:
        """Events waiting in spool files for a replay, and when the oldest file was started (ns)."""
        if self.spool is None:
            return 0, None
        try:
            return self.spool.backlog()
        except OSError:
            return 0, None

    def maintain(self, stopping: bool) -> None:
        """After a round of the sender: trim (at most once a second), then, unless stopping or backing
        off, replay spooled batches for up to a second, giving way to live events."""
        spool = self.spool
        assert spool is not None
        now = time.monotonic()
        if now >= self._next_trim:
            self._next_trim = now + 1.0
            trimmed = spool.trim()
            if trimmed:
                self.counters.drop("spool_full", trimmed)
                warn_once("spool-full", "prism-sdk: spool over its size limit: oldest events deleted")
        if stopping or now < self.delivery.backoff.retry_at:
            return
        batcher = self.batcher
        if len(batcher.queue) < self.max_queue // 2:
            spool.seal()  # the overflow file becomes replayable
        deadline = now + 1.0
        for claim in spool.claims():
            lines = claim.lines
            sent = 0
            ok = True
            for chunk in batcher.cut(lines):
                result = self.delivery.post(chunk)
                if result.kind == "retry":
                    ok = False
                    break
                if result.kind == "ok":
                    self.counters.add_replayed(result.accepted)
                sent += len(chunk)
            claim.keep(lines[sent:]) if not ok else claim.done()
            if not ok or time.monotonic() > deadline or batcher.queue or batcher.ready:
                break
        if spool.has_files():
            self.signals.send.set()  # more to replay: come back soon (after live events)
