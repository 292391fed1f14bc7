"""Durable on-disk spool: events that could not be sent, one JSON event per line.

Files in the spool directory (names sort oldest first)::

    {time_ns:020d}-{pid}-{seq}.jsonl        a closed file, ready to replay
    {time_ns:020d}-{pid}-{seq}.jsonl.open   the file a live process appends to (overflow)
    *.tmp                                   being written (ignored)

A process holds an exclusive ``flock`` on a file while it appends to it or replays it, so several
processes can share one directory; a lock dies with its process, so the files of a process killed
by SIGKILL are replayed by the next one. Replays may resend events already accepted (a crash
between the POST and the delete): the server is idempotent on event ids, so it stores them once.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

try:  # POSIX; elsewhere the spool still works for a single process
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

_READY = ".jsonl"
_OPEN = ".jsonl.open"


def _lock(fd: int) -> bool:
    if fcntl is None:  # pragma: no cover
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


@dataclass
class Claim:
    """A spool file locked by this process for replay."""

    path: str
    lines: list[bytes]
    _fd: int

    def done(self) -> None:
        """Everything in it was delivered (or given up): delete it."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        self.release()

    def keep(self, remaining: list[bytes]) -> None:
        """Part was delivered: keep only ``remaining`` lines for a later replay."""
        if not remaining:
            self.done()
            return
        tmp = self.path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(b"\n".join(remaining) + b"\n")
        target = self.path[: -len(".open")] if self.path.endswith(_OPEN) else self.path
        os.replace(tmp, target)
        if target != self.path:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
        self.release()

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # releases the flock
            self._fd = -1


class Spool:
    """A bounded spool directory. Thread-safe."""

    def __init__(self, directory: str, max_bytes: int, fsync: bool = False) -> None:
        self.directory = os.path.abspath(directory)
        os.makedirs(self.directory, exist_ok=True)
        self.max_bytes = max_bytes
        self.fsync = fsync
        self._pid = os.getpid()
        self._seq = itertools.count()
        self._lock = threading.Lock()
        self._open_fd = -1
        self._open_path = ""
        self._open_bytes = 0
        self._open_lines = 0

    # ---------------------------------------------------------------- writing
    def _name(self) -> str:
        return os.path.join(self.directory, f"{time.time_ns():020d}-{self._pid}-{next(self._seq):06d}")

    def write_batch(self, lines: list[bytes]) -> None:
        """Write events as one ready file (atomically: written aside, then renamed)."""
        if not lines:
            return
        base = self._name()
        tmp = base + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, b"\n".join(lines) + b"\n")
            if self.fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, base + _READY)

    def append(self, line: bytes) -> None:
        """Append one event to this process's open file (one ``write`` syscall: never torn)."""
        with self._lock:
            if self._pid != os.getpid():  # forked: the parent owns the open file
                self._pid, self._open_fd, self._open_path = os.getpid(), -1, ""
            if self._open_fd < 0:
                path = self._name() + _OPEN
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                _lock(fd)
                self._open_fd, self._open_path, self._open_bytes, self._open_lines = fd, path, 0, 0
            os.write(self._open_fd, line + b"\n")
            self._open_bytes += len(line) + 1
            self._open_lines += 1
            if self._open_bytes >= 4 * 1024 * 1024:
                self._seal_locked()

    def seal(self) -> int:
        """Close the open file and make it ready to replay; return its number of events."""
        with self._lock:
            return self._seal_locked()

    def _seal_locked(self) -> int:
        if self._open_fd < 0:
            return 0
        n = self._open_lines
        if self.fsync:
            os.fsync(self._open_fd)
        os.replace(self._open_path, self._open_path[: -len(".open")])
        os.close(self._open_fd)
        self._open_fd, self._open_path, self._open_bytes, self._open_lines = -1, "", 0, 0
        return n

    # ---------------------------------------------------------------- reading
    def _files(self) -> list[str]:
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            return []
        return sorted(n for n in names if n.endswith((_READY, _OPEN)))

    def has_files(self) -> bool:
        own = os.path.basename(self._open_path)
        return any(n != own for n in self._files())

    def claims(self) -> Iterator[Claim]:
        """Lock and read spool files oldest first (skipping files another live process holds)."""
        own = os.path.basename(self._open_path)
        for name in self._files():
            if name == own:
                continue
            claim = self._claim(os.path.join(self.directory, name))
            if claim is not None:
                yield claim

    def _claim(self, path: str) -> Claim | None:
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        if not _lock(fd):
            os.close(fd)
            return None
        try:
            if os.stat(path).st_ino != os.fstat(fd).st_ino:  # replaced meanwhile
                os.close(fd)
                return None
            chunks = []
            while True:
                b = os.read(fd, 1 << 20)
                if not b:
                    break
                chunks.append(b)
        except OSError:
            os.close(fd)
            return None
        lines = [ln for ln in b"".join(chunks).split(b"\n") if ln.endswith(b"}")]
        return Claim(path, lines, fd)

    # ---------------------------------------------------------------- bounds
    def size(self) -> int:
        total = 0
        for name in self._files():
            with contextlib.suppress(FileNotFoundError):
                total += os.stat(os.path.join(self.directory, name)).st_size
        return total

    def trim(self) -> int:
        """Delete oldest files until the spool fits ``max_bytes``; return the events deleted."""
        total = self.size()
        dropped = 0
        if total <= self.max_bytes:
            return 0
        for claim in self.claims():
            with contextlib.suppress(OSError):
                total -= os.fstat(claim._fd).st_size
            dropped += len(claim.lines)
            claim.done()
            if total <= self.max_bytes:
                break
        return dropped

    def close(self) -> None:
        self.seal()
