"""Durable on-disk spool: events that could not be sent, one JSON event per line.

Files in the spool directory (names sort oldest first)::

    {time_ns:020d}-{pid}-{seq}.jsonl        a closed file, ready to replay
    {time_ns:020d}-{pid}-{seq}.jsonl.open   a file a live process appends to: the overflow of a full
                                            queue, or a write-ahead segment (batches being sent)
    *.tmp                                   being written (ignored)

Write-ahead: with a spool, the SDK appends every batch it takes from the in-memory queue to a
segment (one ``os.write``) *before* sending it, and deletes the segment once the server acknowledged
everything in it (under load, a segment holds several batches; it is rolled over at 4 MiB). A process
killed by SIGKILL leaves its segment behind; the next process replays it. The data is in the OS page
cache, which survives the death of the process but not a crash of the machine (no ``fsync`` per batch
unless ``fsync=True``).

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
class Segment:
    """A write-ahead segment of this process: batches written before being sent."""

    path: str
    fd: int
    size: int = 0
    outstanding: int = 0  # events written and not acknowledged yet


@dataclass
class Claim:
    """A spool file locked by this process for replay."""

    path: str
    lines: list[bytes]
    _fd: int
    _spool: Spool | None = None

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
            if self._spool is not None:
                self._spool._released(self.path)


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
        self._wal: Segment | None = None  # the segment batches are appended to
        self._wal_retired: list[Segment] = []  # rolled over, deleted once nothing is outstanding
        self.wal_roll_bytes = 4 * 1024 * 1024
        self._claimed: dict[str, int] = {}  # files this process is replaying -> their events
        self._counted: dict[str, tuple[int, int]] = {}  # file name -> (size, events), for backlog()

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

    def _check_fork_locked(self) -> None:
        if self._pid == os.getpid():
            return
        # Forked: the parent owns the open file and the segments (and their locks); forget them.
        for fd in (self._open_fd, *(seg.fd for seg in self._segments())):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._pid, self._open_fd, self._open_path = os.getpid(), -1, ""
        self._open_bytes = self._open_lines = 0
        self._wal, self._wal_retired = None, []
        self._claimed, self._counted = {}, {}

    def _segments(self) -> list[Segment]:
        return ([self._wal] if self._wal is not None else []) + self._wal_retired

    def _own(self) -> set[str]:
        return {os.path.basename(p) for p in (self._open_path, *(s.path for s in self._segments())) if p}

    # ---------------------------------------------------------------- write-ahead
    def wal_append(self, lines: list[bytes]) -> Segment:
        """Append a batch about to be sent to the current segment; ``wal_ack`` it once delivered."""
        data = b"\n".join(lines) + b"\n"
        with self._lock:
            self._check_fork_locked()
            seg = self._wal
            if seg is not None and seg.size >= self.wal_roll_bytes:
                self._retire_locked(seg)
                seg = None
            if seg is None:
                path = self._name() + _OPEN
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                _lock(fd)
                seg = self._wal = Segment(path, fd)
            view = memoryview(data)
            while view:
                view = view[os.write(seg.fd, view) :]
            seg.size += len(data)
            seg.outstanding += len(lines)
            return seg

    def wal_ack(self, seg: Segment, n: int) -> None:
        """``n`` events of ``seg`` were delivered (or moved to a spool file, or given up)."""
        with self._lock:
            if seg.fd < 0:  # closed meanwhile (shutdown) or forked
                return
            seg.outstanding = max(0, seg.outstanding - n)
            if seg.outstanding:
                return
            # Nothing in it is waiting any more: delete it (a spool directory with no file in it means
            # that every event was delivered); the next batch opens a new segment.
            if seg is self._wal:
                self._wal = None
            self._drop_segment_locked(seg)

    def _retire_locked(self, seg: Segment) -> None:
        self._wal = None
        if seg.outstanding:
            self._wal_retired.append(seg)
        else:
            self._drop_segment_locked(seg)

    def _drop_segment_locked(self, seg: Segment) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(seg.path)
        os.close(seg.fd)
        seg.fd = -1
        if seg in self._wal_retired:
            self._wal_retired.remove(seg)

    def append(self, line: bytes) -> None:
        """Append one event to this process's open file (one ``write`` syscall: never torn)."""
        with self._lock:
            self._check_fork_locked()
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
        own = self._own()
        return any(n not in own for n in self._files())

    def claims(self) -> Iterator[Claim]:
        """Lock and read spool files oldest first (skipping this process's and other live ones')."""
        own = self._own()
        for name in self._files():
            if name in own:
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
        with self._lock:
            self._claimed[path] = len(lines)
        return Claim(path, lines, fd, self)

    def _released(self, path: str) -> None:
        with self._lock:
            self._claimed.pop(path, None)

    # ---------------------------------------------------------------- backlog
    def backlog(self) -> tuple[int, int | None]:
        """Events waiting in the spool for a replay, and when the oldest file was started (``time_ns``).

        Counted: ready files, this process's overflow file, files it is replaying, and the files of
        processes that died. Not counted: this process's write-ahead segments (their batches are in
        memory, being sent) and files another live process holds (its own overflow and segments).
        A file is read to count its events once per size it is seen with.
        """
        own_wal = {os.path.basename(seg.path) for seg in self._segments()}
        with self._lock:
            claimed = {os.path.basename(p): n for p, n in self._claimed.items()}
            open_name = os.path.basename(self._open_path) if self._open_path else ""
            open_lines = self._open_lines
        events = 0
        oldest: int | None = None
        seen: set[str] = set()
        for name in self._files():
            if name in own_wal:
                continue
            if name in claimed:
                n = claimed[name]
            elif name == open_name:
                n = open_lines
            else:
                counted = self._count(name)
                if counted is None:
                    continue
                n = counted
            seen.add(name)
            if n:
                events += n
                with contextlib.suppress(ValueError):
                    born = int(name[:20])
                    oldest = born if oldest is None else min(oldest, born)
        for name in set(self._counted) - seen:
            self._counted.pop(name, None)
        return events, oldest

    def _count(self, name: str) -> int | None:
        """Events in a file nobody else holds (None: gone, or held by a live process)."""
        path = os.path.join(self.directory, name)
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            if not _lock(fd):
                return None  # a live process appends to it or replays it: its backlog, not ours
            size = os.fstat(fd).st_size
            cached = self._counted.get(name)
            if cached is not None and cached[0] == size:
                return cached[1]
            n = 0
            while True:
                b = os.read(fd, 1 << 20)
                if not b:
                    break
                n += b.count(b"\n")
            self._counted[name] = (size, n)
            return n
        except OSError:
            return None
        finally:
            os.close(fd)  # releases the test lock

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
        """Seal the overflow file; delete empty segments, make the others ready to replay."""
        self.seal()
        with self._lock:
            self._check_fork_locked()
            for seg in self._segments():
                if seg.outstanding:
                    if self.fsync:
                        os.fsync(seg.fd)
                    os.replace(seg.path, seg.path[: -len(".open")])
                    os.close(seg.fd)
                    seg.fd = -1
                else:
                    self._drop_segment_locked(seg)
            self._wal, self._wal_retired = None, []
