"""What a client counts: :class:`Stats` (the public snapshot ``stats()`` returns) and the
:class:`Counters` behind it, which the background threads update."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field


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


class Counters:
    """The running totals of one client (see :class:`Stats`), safe to update from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.sent = self.retried = self.spooled = self.replayed = 0
        self.dropped: dict[str, int] = {}
        self.last_error = ""
        self.last_error_at: float | None = None
        self.last_sent_at: float | None = None

    def drop(self, reason: str, n: int) -> None:
        if n <= 0:
            return
        with self._lock:
            self.dropped[reason] = self.dropped.get(reason, 0) + n

    def add_sent(self, n: int) -> None:
        with self._lock:
            self.sent += n
            self.last_sent_at = time.time()

    def add_retried(self, n: int) -> None:
        with self._lock:
            self.retried += n

    def add_spooled(self, n: int) -> None:
        with self._lock:
            self.spooled += n

    def add_replayed(self, n: int) -> None:
        with self._lock:
            self.replayed += n

    def failed(self, message: str) -> None:
        """A request failed or was refused (written by the sender thread only)."""
        self.last_error = message
        self.last_error_at = time.time()

    def snapshot(self, *, queued: int, spool_pending: int, spool_oldest_at: float | None, failures: int) -> Stats:
        with self._lock:
            return Stats(
                sent=self.sent,
                retried=self.retried,
                spooled=self.spooled,
                replayed=self.replayed,
                dropped=dict(self.dropped),
                queued=queued,
                spool_pending=spool_pending,
                spool_oldest_at=spool_oldest_at,
                failures=failures,
                last_error=self.last_error,
                last_error_at=self.last_error_at,
                last_sent_at=self.last_sent_at,
            )

    def after_fork(self) -> None:
        self._lock = threading.Lock()  # the parent may have held it while forking
