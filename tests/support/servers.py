"""A PostgreSQL cluster and a Redis server of the test's own, on free ports, that it may stop, kill and
restart (never the machine's own on 5432 and 6379).

with PostgresCluster() as pg, RedisServer() as redis_server:
    url = pg.url("prism_x")           # postgresql://postgres@127.0.0.1:<port>/prism_x
    pg.restart()                      # pg_ctl stop -m fast, then start; returns once it accepts connections
    redis_server.restart(kill=True)   # SIGKILL, then start with what its append-only file kept
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Literal

from tests.support.net import free_port

ShutdownMode = Literal["smart", "fast", "immediate"]


def postgres_bin() -> Path | None:
    """The bin directory of the newest PostgreSQL installed the Debian way (``PRISM_PG_BIN`` overrides)."""
    if os.environ.get("PRISM_PG_BIN"):
        return Path(os.environ["PRISM_PG_BIN"])
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    return found[-1].parent if found else None


class PostgresCluster:
    """``initdb`` in a temporary directory, trust authentication, 127.0.0.1 on a free port.

    Run as root (CI), every PostgreSQL command runs as the ``postgres`` user, which owns the directory.
    ``fsync`` is off (the tests restart the server, never the machine: the OS keeps what was written)
    and ``synchronous_commit`` stays on, so a commit the server reported survives a crash of the server
    (``stop(mode="immediate")``).
    """

    def __init__(self, *, max_connections: int = 100) -> None:
        bindir = postgres_bin()
        if bindir is None:
            raise FileNotFoundError("no PostgreSQL server binaries under /usr/lib/postgresql (set PRISM_PG_BIN)")
        self.bin = bindir
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="prism-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.max_connections = max_connections
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self.root, "postgres", "postgres")

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def _run(self, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin / argv[0]), *argv[1:]]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)

    def init(self) -> None:
        done = self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{done.stdout}\n{done.stderr}")
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.root}'",
            "max_connections": str(self.max_connections),
            "shared_buffers": "'64MB'",
            "fsync": "off",
            "full_page_writes": "off",
            "synchronous_commit": "on",
            "log_min_messages": "warning",
        }
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write("\n# prism test cluster\n" + "".join(f"{k} = {v}\n" for k, v in settings.items()))

    def start(self) -> None:
        """Start and return once the server accepts connections (``pg_ctl -w``)."""
        done = self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start")
        if done.returncode != 0:
            raise RuntimeError(f"pg_ctl start failed:\n{done.stdout}\n{done.stderr}\n{self.logs()[-3000:]}")

    def stop(self, mode: ShutdownMode = "fast") -> None:
        """``fast``: sessions are told "terminating connection due to administrator command";
        ``immediate``: the server dies without a checkpoint, as in a crash, and recovers on start."""
        done = self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")
        if done.returncode != 0 and self.running():
            raise RuntimeError(f"pg_ctl stop failed:\n{done.stdout}\n{done.stderr}")

    def restart(self, mode: ShutdownMode = "fast", down_for: float = 0.0) -> None:
        self.stop(mode)
        if down_for:
            time.sleep(down_for)
        self.start()

    def running(self) -> bool:
        return self._run("pg_ctl", "-D", str(self.data), "status").returncode == 0

    def logs(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def __enter__(self) -> PostgresCluster:
        try:
            self.init()
            self.start()
        except BaseException:
            self.destroy()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.destroy()

    def destroy(self) -> None:
        if self.data.exists() and self.running():
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


class RedisServer:
    """``redis-server`` on 127.0.0.1 and a free port, its files in a temporary directory.

    ``appendonly=True`` (the default) keeps an append-only file, as compose runs Redis. Redis writes
    to it before it replies, so what a client was told was written survives a kill of the process
    with either ``appendfsync``; ``always`` (the default here) also fsyncs before replying, so it
    would survive a crash of the machine, while compose's ``everysec`` may lose the last second of
    that. With ``appendonly=False`` and no snapshots a restart starts empty: the stream, its
    consumer group and the dead letters are gone.
    """

    def __init__(self, *, appendonly: bool = True, appendfsync: str = "always", binary: str = "redis-server") -> None:
        path = shutil.which(binary)
        if path is None:
            raise FileNotFoundError(f"{binary} is not installed")
        self.binary = path
        self.port = free_port()
        self.appendonly = appendonly
        self.appendfsync = appendfsync
        self.root = Path(tempfile.mkdtemp(prefix="prism-redis-"))
        self.log = self.root / "redis.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 15.0) -> None:
        """Start and return once it answers PING with its data loaded."""
        import redis

        argv = [
            self.binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.root),
            "--logfile", str(self.log),
            "--save", "",
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", self.appendfsync,
            "--daemonize", "no",
        ]  # fmt: skip
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.starts += 1
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5, socket_timeout=1)
        deadline = time.monotonic() + timeout
        try:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"redis-server exited with {self.proc.returncode}:\n{self.logs()[-3000:]}")
                try:
                    if client.ping():  # answers LOADING (an error) until the AOF is read
                        return
                except redis.RedisError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"redis-server on {self.port} not ready after {timeout}s")
                time.sleep(0.02)
        finally:
            client.close()

    def stop(self, *, kill: bool = False) -> None:
        """SIGTERM (Redis flushes its append-only file and exits) or SIGKILL (nothing more is written)."""
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def restart(self, *, kill: bool = False, down_for: float = 0.0) -> None:
        self.stop(kill=kill)
        if down_for:
            time.sleep(down_for)
        self.start()

    def logs(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def __enter__(self) -> RedisServer:
        try:
            self.start()
        except BaseException:
            self.destroy()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.destroy()

    def destroy(self) -> None:
        self.stop(kill=True)
        shutil.rmtree(self.root, ignore_errors=True)
