"""The supervisor of ``make up`` without Docker: compose's ``restart: unless-stopped`` for processes.

    python -m scripts.supervisor --state-dir .prism     # started by `make up`, stopped by `make down`

It is the parent of every service of the local stack. What should run is in
``<state>/run/services.json``, written by ``scripts/dev.py``: per service its argv, environment,
health URL, post-start hook, a configuration hash and a generation, in start order. Every tick it
reconciles what runs with that:

- a wanted service that is not running is started (output to ``<state>/logs/<name>.log``); it is
  *starting* until its health URL answers 200 (or, without one, it has run ``ready_after_s``) and
  its post-start hook (the emulator's bucket and stream) has run, then *running*;
- a service that exits by itself has crashed: it is started again after a backoff that doubles
  from ``PRISM_SUPERVISOR_BACKOFF_S`` up to ``PRISM_SUPERVISOR_BACKOFF_MAX_S`` (back to the first
  delay once it had run ``reset_after_s``), and the restart is counted with the exit code and time;
- a new generation (``make restart``) or configuration (``make up`` after a change) stops it
  deliberately (SIGTERM to its process group, SIGKILL after ``PRISM_SUPERVISOR_STOP_GRACE_S``) and
  starts it again; a service no longer listed is stopped. Neither counts as a crash;
- on SIGTERM (``make down``) it stops the services in reverse start order and exits.

What it sees is in ``<state>/run/state.json``. A supervisor started while services of a previous
one still run (it was killed) adopts them: they keep their pids, only their exit codes are unknown.
Time comes from an injectable clock, processes from an injectable launcher: the tests drive
:meth:`Supervisor.tick` with fakes.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

ROOT = Path(__file__).resolve().parent.parent
DESIRED = "services.json"
STATE = "state.json"
LOCK = "supervisor.lock"
PIDFILE = "supervisor.pid"
#: Variables a service's spec carries; the supervisor's own environment gives the rest (PATH, HOME...).
SPEC_PREFIXES = ("PRISM_", "AWS_", "LITELLM_", "TLDEXTRACT_")


# --- what should run


@dataclass(frozen=True)
class Spec:
    """One service as ``scripts/dev.py`` wants it run."""

    name: str
    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    health: str | None = None
    post_start: tuple[str, ...] | None = None
    config: str = ""
    generation: int = 1
    ready_after_s: float = 0.0  # and up this long (a service without a health URL: it did not crash on start)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "argv": list(self.argv),
            "env": dict(self.env),
            "health": self.health,
            "post_start": list(self.post_start) if self.post_start else None,
            "config": self.config,
            "generation": self.generation,
            "ready_after_s": self.ready_after_s,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Spec:
        return cls(
            name=str(d["name"]),
            argv=tuple(d["argv"]),
            env=dict(d.get("env") or {}),
            health=d.get("health"),
            post_start=tuple(d["post_start"]) if d.get("post_start") else None,
            config=str(d.get("config", "")),
            generation=int(d.get("generation", 1)),
            ready_after_s=float(d.get("ready_after_s", 0.0)),
        )


def write_json(path: Path, data: Any) -> None:
    """Atomically (a reader never sees half a file), readable by this user only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def read_desired(run_dir: Path) -> list[Spec]:
    data = read_json(run_dir / DESIRED)
    return [Spec.from_json(s) for s in data.get("services", [])] if isinstance(data, dict) else []


def write_desired(run_dir: Path, specs: list[Spec]) -> None:
    write_json(run_dir / DESIRED, {"services": [s.to_json() for s in specs]})


def read_state(run_dir: Path) -> dict[str, Any]:
    data = read_json(run_dir / STATE)
    return data if isinstance(data, dict) else {}


# --- processes


@dataclass(frozen=True)
class Exit:
    """How a process ended; ``code`` is None for an adopted process (not our child)."""

    code: int | None


class Process(Protocol):
    pid: int
    start_ticks: int | None

    def poll(self) -> Exit | None: ...

    def signal(self, sig: int) -> None: ...


class Launcher(Protocol):
    def start(self, spec: Spec) -> Process: ...

    def hook(self, spec: Spec) -> Process: ...

    def healthy(self, url: str) -> bool: ...

    def adopt(self, pid: int, start_ticks: int | None) -> Process | None: ...


def start_ticks(pid: int) -> int | None:
    """When ``pid`` started (clock ticks since boot, /proc/<pid>/stat): a pid reused by another
    process has another start time. None where there is no /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def is_alive(pid: int, ticks: int | None = None) -> bool:
    """``pid`` runs (not a zombie) and, when ``ticks`` is given, is the process that started then."""
    try:
        os.kill(pid, 0)
    except (OSError, ValueError):
        return False
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return True
    if fields[0] == "Z":
        return False
    return ticks is None or int(fields[19]) == ticks


class ChildProcess:
    """A service we started: its own session (process group), so a signal reaches its children."""

    def __init__(self, popen: subprocess.Popen[bytes]) -> None:
        self.popen = popen
        self.pid = popen.pid
        self.start_ticks = start_ticks(popen.pid)

    def poll(self) -> Exit | None:
        code = self.popen.poll()
        return None if code is None else Exit(code)

    def signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)


class AdoptedProcess:
    """A service a previous supervisor started: watched by pid and start time."""

    def __init__(self, pid: int, ticks: int | None) -> None:
        self.pid = pid
        self.start_ticks = ticks

    def poll(self) -> Exit | None:
        return None if is_alive(self.pid, self.start_ticks) else Exit(None)

    def signal(self, sig: int) -> None:
        if is_alive(self.pid, self.start_ticks):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, sig)


class ProcessLauncher:
    """Real processes, logs appended to ``<log_dir>/<name>.log``."""

    def __init__(self, log_dir: Path, base_env: Mapping[str, str] | None = None, wall: Callable[[], float] = time.time):
        self.log_dir = log_dir
        env = dict(os.environ if base_env is None else base_env)
        self.base_env = {k: v for k, v in env.items() if not k.startswith(SPEC_PREFIXES)}
        self.wall = wall

    def _log(self, spec: Spec, note: str) -> IO[bytes]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_dir / f"{spec.name}.log", "ab")  # noqa: SIM115 - the child owns it
        log.write(f"==> {_stamp(self.wall())} supervisor: {note}\n".encode())
        log.flush()
        return log

    def _popen(self, argv: tuple[str, ...], spec: Spec, note: str) -> ChildProcess:
        with self._log(spec, note) as log:
            popen = subprocess.Popen(
                list(argv),
                env={**self.base_env, **spec.env},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                start_new_session=True,
            )
        return ChildProcess(popen)

    def start(self, spec: Spec) -> Process:
        return self._popen(spec.argv, spec, f"starting {spec.name} (generation {spec.generation})")

    def hook(self, spec: Spec) -> Process:
        assert spec.post_start
        return self._popen(spec.post_start, spec, f"post-start hook of {spec.name}")

    def healthy(self, url: str) -> bool:
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:  # noqa: S310 - loopback only
                return bool(resp.status == 200)
        except OSError:
            return False

    def adopt(self, pid: int, ticks: int | None) -> Process | None:
        return AdoptedProcess(pid, ticks) if is_alive(pid, ticks) else None


# --- the supervisor


@dataclass(frozen=True)
class Timings:
    backoff_s: float = 0.5
    backoff_max_s: float = 60.0
    reset_after_s: float = 10.0  # a crash after this long up restarts after the first delay again
    stop_grace_s: float = 10.0
    tick_s: float = 0.2

    def backoff(self, consecutive: int) -> float:
        """The delay before restart number ``consecutive`` of a row of quick crashes (1, 2, ...)."""
        return float(min(self.backoff_s * 2 ** max(consecutive - 1, 0), self.backoff_max_s))


@dataclass
class Unit:
    """What the supervisor knows of one service."""

    name: str
    state: str = "stopped"  # starting, running, stopping, backoff, stopped
    proc: Process | None = None
    hook: Process | None = None
    generation: int = 0
    config: str = ""
    started_at: float | None = None  # wall clock
    started_mono: float = 0.0
    restarts: int = 0
    consecutive: int = 0
    last_exit_code: int | None = None
    last_exit_at: float | None = None
    next_start: float = 0.0  # monotonic
    stop_deadline: float = 0.0
    killed: bool = False
    adopted: bool = False
    error: str | None = None

    def to_json(self, now: float) -> dict[str, Any]:
        proc = self.proc
        return {
            "state": self.state,
            "pid": proc.pid if proc else None,
            "pid_start": proc.start_ticks if proc else None,
            "started_at": self.started_at if proc else None,
            "generation": self.generation,
            "config": self.config,
            "restarts": self.restarts,
            "last_exit_code": self.last_exit_code,
            "last_exit_at": self.last_exit_at,
            "restart_in_s": round(max(self.next_start - now, 0.0), 3) if self.state == "backoff" else None,
            "adopted": self.adopted,
            "error": self.error,
        }


class Supervisor:
    def __init__(
        self,
        run_dir: Path,
        launcher: Launcher,
        *,
        timings: Timings = Timings(),
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        log: Callable[[str], None] = print,
    ) -> None:
        self.run_dir = run_dir
        self.launcher = launcher
        self.timings = timings
        self.clock = clock
        self.wall = wall
        self.log = log
        self.units: dict[str, Unit] = {}
        self.order: list[str] = []
        self.desired: dict[str, Spec] = {}
        self.shutting_down = False
        self.started_at = wall()
        self._written: Any = None

    # --- the loop

    def tick(self) -> None:
        now = self.clock()
        if not self.shutting_down:
            self._load_desired()
        self._reap(now)
        if self.shutting_down:
            self._shut_down(now)
        else:
            self._reconcile(now)
        self.write_state()

    def run(self) -> None:
        def stop(_sig: int, _frame: object) -> None:
            self.request_shutdown()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        self.log(f"supervisor pid {os.getpid()} watching {self.run_dir / DESIRED}")
        self.write_state()  # `make up` waits for this: the supervisor is ready
        while True:
            try:
                self.tick()
            except Exception as exc:  # the supervisor must outlive any one mistake
                self.log(f"tick failed: {exc!r}")
            if self.done:
                break
            time.sleep(self.timings.tick_s)
        self.log("every service stopped; supervisor exits")

    def request_shutdown(self) -> None:
        if not self.shutting_down:
            self.shutting_down = True
            self.log("stopping every service (reverse start order)")

    @property
    def done(self) -> bool:
        return self.shutting_down and all(u.proc is None and u.hook is None for u in self.units.values())

    # --- steps

    def _load_desired(self) -> None:
        path = self.run_dir / DESIRED
        if not path.exists():
            self.desired, self.order = {}, []
            return
        data = read_json(path)
        try:
            specs = [Spec.from_json(s) for s in data["services"]]
        except (KeyError, TypeError, ValueError):
            return  # keep the last good one
        self.desired = {s.name: s for s in specs}
        self.order = [s.name for s in specs]

    def _units_in_order(self) -> Iterator[Unit]:
        for name in self.order:
            yield self.units.setdefault(name, Unit(name))
        yield from (u for name, u in list(self.units.items()) if name not in self.desired)

    def _reap(self, now: float) -> None:
        for unit in self.units.values():
            if unit.hook is not None and unit.proc is not None:
                done = unit.hook.poll()
                if done is not None:
                    unit.hook = None
                    if done.code != 0:
                        unit.error = f"post-start hook exited with {describe(done.code)}"
                        self.log(f"{unit.name}: {unit.error} (see its log)")
                    if unit.state == "starting":
                        unit.state = "running"
                        self.log(f"{unit.name} running (pid {unit.proc.pid})")
            if unit.proc is None:
                continue
            ended = unit.proc.poll()
            if ended is None:
                continue
            uptime = now - unit.started_mono
            pid = unit.proc.pid
            unit.proc = None
            if unit.hook is not None:
                unit.hook.signal(signal.SIGKILL)
                unit.hook = None
            if unit.state == "stopping" or self.shutting_down:
                unit.state = "stopped"
                self.log(f"{unit.name} stopped (pid {pid}, {describe(ended.code)})")
                continue
            # It ended by itself: a crash.
            unit.last_exit_code, unit.last_exit_at = ended.code, self.wall()
            unit.consecutive = 1 if uptime >= self.timings.reset_after_s else unit.consecutive + 1
            if unit.name not in self.desired:
                unit.state = "stopped"
                continue
            delay = self.timings.backoff(unit.consecutive)
            unit.state, unit.next_start = "backoff", now + delay
            self.log(
                f"{unit.name} (pid {pid}) exited with {describe(ended.code)} after {uptime:.1f}s; "
                f"restarting in {delay:g}s"
            )

    def _reconcile(self, now: float) -> None:
        for unit in self._units_in_order():
            spec = self.desired.get(unit.name)
            if unit.proc is not None:
                if unit.state == "stopping":
                    self._escalate(unit, now)
                elif spec is None:
                    self._stop(unit, now, "no longer wanted")
                elif spec.generation != unit.generation:
                    self._stop(unit, now, "restart requested")
                elif spec.config != unit.config:
                    self._stop(unit, now, "configuration changed")
                elif unit.state == "starting" and unit.hook is None:
                    self._check_started(unit, spec, now)
                continue
            if spec is None:
                if unit.state == "backoff":
                    unit.state = "stopped"
                continue
            crashed = unit.state == "backoff" and spec.generation == unit.generation
            if crashed and now < unit.next_start:
                continue
            self._start(unit, spec, now, crashed=crashed)

    def _check_started(self, unit: Unit, spec: Spec, now: float) -> None:
        if now - unit.started_mono < spec.ready_after_s:
            return
        if spec.health is not None and not self.launcher.healthy(spec.health):
            return
        if spec.post_start:
            try:
                unit.hook = self.launcher.hook(spec)
                return
            except OSError as exc:
                unit.error = f"post-start hook failed to start: {exc}"
                self.log(f"{unit.name}: {unit.error}")
        unit.state = "running"
        self.log(f"{unit.name} running (pid {unit.proc.pid if unit.proc else '?'})")

    def _start(self, unit: Unit, spec: Spec, now: float, *, crashed: bool) -> None:
        try:
            proc = self.launcher.start(spec)
        except OSError as exc:  # e.g. the executable is gone: like a crash, with backoff
            unit.error = f"cannot start: {exc}"
            unit.consecutive += 1
            unit.state, unit.next_start = "backoff", now + self.timings.backoff(unit.consecutive)
            unit.generation = spec.generation
            self.log(f"{unit.name}: {unit.error}")
            return
        if crashed:
            unit.restarts += 1
        elif spec.generation != unit.generation:
            unit.consecutive = 0  # a deliberate (re)start begins a new row
        unit.proc, unit.hook, unit.adopted, unit.killed, unit.error = proc, None, False, False, None
        unit.generation, unit.config = spec.generation, spec.config
        unit.started_at, unit.started_mono = self.wall(), now
        unit.state = "starting"
        self.log(f"{unit.name} {'restarted' if crashed else 'started'} (pid {proc.pid})")
        if spec.health is None:
            self._check_started(unit, spec, now)

    def _stop(self, unit: Unit, now: float, why: str) -> None:
        assert unit.proc is not None
        self.log(f"stopping {unit.name} (pid {unit.proc.pid}): {why}")
        unit.proc.signal(signal.SIGTERM)
        if unit.hook is not None:
            unit.hook.signal(signal.SIGKILL)
        unit.state, unit.stop_deadline, unit.killed = "stopping", now + self.timings.stop_grace_s, False

    def _escalate(self, unit: Unit, now: float) -> None:
        if unit.proc is not None and not unit.killed and now >= unit.stop_deadline:
            self.log(f"{unit.name} (pid {unit.proc.pid}) still running after {self.timings.stop_grace_s:g}s: SIGKILL")
            unit.proc.signal(signal.SIGKILL)
            unit.killed = True

    def _shut_down(self, now: float) -> None:
        """One service at a time, the last started first."""
        for unit in self.units.values():
            if unit.proc is None and unit.state == "backoff":
                unit.state = "stopped"
        alive = [u for u in self._units_in_order() if u.proc is not None]
        for unit in alive:
            if unit.state == "stopping":
                self._escalate(unit, now)
        if alive and not any(u.state == "stopping" for u in alive):
            self._stop(alive[-1], now, "shutting down")

    # --- state

    def snapshot(self) -> dict[str, Any]:
        now = self.clock()
        return {
            "supervisor": {
                "pid": os.getpid(),
                "pid_start": start_ticks(os.getpid()),
                "started_at": self.started_at,
                "state": "stopped" if self.done else "stopping" if self.shutting_down else "running",
            },
            "order": list(self.order),
            "services": {name: unit.to_json(now) for name, unit in self.units.items()},
        }

    def write_state(self) -> None:
        snap = self.snapshot()
        if snap != self._written:
            write_json(self.run_dir / STATE, snap)
            self._written = snap

    def adopt(self) -> None:
        """Take over the services a previous supervisor (killed, not stopped) left running."""
        state = read_state(self.run_dir)
        previous = state.get("supervisor", {})
        if previous.get("state") not in ("running", "stopping"):
            return  # stopped cleanly (make down) or never ran: a fresh start
        wall_now, now = self.wall(), self.clock()
        for name, s in state.get("services", {}).items():
            unit = Unit(name, restarts=int(s.get("restarts") or 0))
            unit.last_exit_code, unit.last_exit_at = s.get("last_exit_code"), s.get("last_exit_at")
            unit.generation, unit.config = int(s.get("generation") or 0), str(s.get("config") or "")
            proc = self.launcher.adopt(int(s["pid"]), s.get("pid_start")) if s.get("pid") else None
            if proc is not None:
                unit.proc, unit.adopted = proc, True
                unit.state = "running" if s.get("state") == "running" else "starting"
                unit.started_at = s.get("started_at") or wall_now
                unit.started_mono = now - max(wall_now - (unit.started_at or wall_now), 0.0)
                self.log(f"adopted {name} (pid {proc.pid}) from the previous supervisor")
            self.units[name] = unit


def describe(code: int | None) -> str:
    """An exit status as a person reads it: ``code 1``, ``SIGKILL``, ``an unknown status``."""
    if code is None:
        return "an unknown status"
    if code < 0:
        with contextlib.suppress(ValueError):
            return signal.Signals(-code).name
        return f"signal {-code}"
    return f"code {code}"


def _stamp(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Keep the local Prism services running")
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--backoff", type=float, default=Timings.backoff_s)
    parser.add_argument("--backoff-max", type=float, default=Timings.backoff_max_s)
    parser.add_argument("--stop-grace", type=float, default=Timings.stop_grace_s)
    args = parser.parse_args(argv)
    run_dir, log_dir = args.state_dir / "run", args.state_dir / "logs"
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = open(run_dir / LOCK, "w")  # noqa: SIM115 - held for the supervisor's life
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print(f"another supervisor holds {run_dir / LOCK}", file=sys.stderr)
        return 1
    (run_dir / PIDFILE).write_text(str(os.getpid()))

    def log(message: str) -> None:
        print(f"{_stamp(time.time())} {message}", flush=True)

    timings = Timings(backoff_s=args.backoff, backoff_max_s=args.backoff_max, stop_grace_s=args.stop_grace)
    supervisor = Supervisor(run_dir, ProcessLauncher(log_dir), timings=timings, log=log)
    supervisor.adopt()
    try:
        supervisor.run()
    finally:
        supervisor.write_state()
        (run_dir / PIDFILE).unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
