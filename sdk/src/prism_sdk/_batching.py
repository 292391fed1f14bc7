"""Batches: events serialised from the in-memory queue, batches written ahead merged, and spooled
lines cut, each within what one request may carry (``batch_size`` events, ``MAX_REQUEST_BYTES``)."""

from __future__ import annotations

import collections
from collections.abc import Iterator, Mapping
from typing import Any

from ._config import MAX_REQUEST_BYTES
from ._event import Buildable, serialize
from ._log import warn_once
from ._spool import Segment
from ._stats import Counters

Queue = collections.deque[Buildable | Mapping[str, Any]]  # logged events, not serialised yet
# Batches already written ahead to a spool segment (None: the write failed), waiting to be sent.
Ready = collections.deque[tuple[Segment | None, list[bytes]]]
Acks = list[tuple[Segment | None, int]]  # segments to acknowledge, with their number of events


class Batcher:
    """Cuts batches out of one client's queue and ready batches, counting what it must drop."""

    def __init__(self, queue: Queue, ready: Ready, batch_size: int, counters: Counters) -> None:
        self.queue = queue
        self.ready = ready
        self.batch_size = batch_size
        self.counters = counters

    def take(self, limit: int | None = None) -> list[bytes] | None:
        """Up to ``limit`` (default: a batch) events from the queue, serialised."""
        q = self.queue
        lines: list[bytes] = []
        size = 0
        left = self.batch_size if limit is None else limit
        while q and left > 0:
            left -= 1
            item = q.popleft()
            try:
                line = serialize(item)
            except Exception:
                self.counters.drop("invalid", 1)
                warn_once("serialize", "prism-sdk: could not serialise an event: dropped", exc_info=True)
                continue
            if len(line) + 64 > MAX_REQUEST_BYTES:
                self.counters.drop("too_large", 1)
                warn_once("too-large", "prism-sdk: an event of %d bytes is too large: dropped", len(line))
                continue
            if size + len(line) + 1 > MAX_REQUEST_BYTES:
                q.appendleft(item)
                break
            lines.append(line)
            size += len(line) + 1
        return lines or None

    def drain(self) -> list[bytes]:
        """Everything left in the queue, serialised (at shutdown; no caps)."""
        lines: list[bytes] = []
        q = self.queue
        while q:
            item = q.popleft()
            try:
                lines.append(serialize(item))
            except Exception:
                self.counters.drop("invalid", 1)
        return lines

    def take_ready(self, acks: Acks) -> list[bytes] | None:
        """Merge batches written ahead into one request; their segments are appended to ``acks``."""
        lines: list[bytes] = []
        size = 0
        ready = self.ready
        while ready:
            seg, chunk = ready[0]
            extra = sum(len(x) + 1 for x in chunk)
            if lines and (len(lines) + len(chunk) > self.batch_size or size + extra > MAX_REQUEST_BYTES):
                break
            ready.popleft()
            lines.extend(chunk)
            size += extra
            acks.append((seg, len(chunk)))
        return lines or None

    def cut(self, lines: list[bytes]) -> Iterator[list[bytes]]:
        """Spooled lines (already serialised) in consecutive requests."""
        i = 0
        while i < len(lines):
            chunk: list[bytes] = []
            size = 0
            while i < len(lines) and len(chunk) < self.batch_size:
                if chunk and size + len(lines[i]) > MAX_REQUEST_BYTES:
                    break
                chunk.append(lines[i])
                size += len(lines[i]) + 1
                i += 1
            yield chunk
