"""The two background threads of a client (:class:`~._sender.Sender`, :class:`~._write_ahead.WriteAhead`):
how they wake each other (:class:`Signals`), and how they start and stop (:class:`Daemon`)."""

from __future__ import annotations

import abc
import threading


class Signals:
    """Renewed in a forked child (the parent may have held their locks while forking)."""

    def __init__(self) -> None:
        self.renew()

    def renew(self) -> None:
        self.send = threading.Event()  # wakes the sender thread
        self.write_ahead = threading.Event()  # wakes the spool thread
        self.progress = threading.Condition()  # notified after every round of either; flush waits on it

    def notify_progress(self) -> None:
        with self.progress:
            self.progress.notify_all()


class Daemon(abc.ABC):
    """A daemon thread running :meth:`run`, which returns after the round it starts once ``stopping``."""

    name = "prism-sdk"

    def __init__(self, signals: Signals) -> None:
        self.signals = signals
        self.busy = False  # in a round now
        self.stopping = False
        self.thread: threading.Thread | None = None

    @abc.abstractmethod
    def wake(self) -> threading.Event:
        """The event that wakes this thread."""

    @abc.abstractmethod
    def run(self) -> None:
        """The thread's loop: a round each time it wakes (or ``interval`` passed), until stopping."""

    def start(self) -> None:
        t = threading.Thread(target=self.run, name=self.name, daemon=True)
        t.start()
        self.thread = t

    def stop(self, timeout: float) -> bool:
        """Stop after a last round, waiting up to ``timeout``. True if the thread is still running."""
        self.stopping = True
        self.wake().set()
        t = self.thread
        if t is not None and t.is_alive():
            t.join(timeout)
        return t is not None and t.is_alive()

    def after_fork(self) -> None:
        self.busy = False
        self.thread = None  # the child has no such thread: started again on its first event
