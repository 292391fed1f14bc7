"""The local supervisor (scripts/supervisor.py), driven tick by tick with a fake clock and fake
processes: crashes are restarted with a doubling backoff and counted; deliberate stops and restarts
are not crashes; health and the post-start hook gate "running"; shutdown goes in reverse order; a
new supervisor adopts what a killed one left running. One test runs real processes."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from scripts.supervisor import (
    Exit,
    ProcessLauncher,
    Spec,
    Supervisor,
    Timings,
    is_alive,
    read_state,
    write_desired,
    write_json,
)

TIMINGS = Timings(backoff_s=0.5, backoff_max_s=4.0, reset_after_s=10.0, stop_grace_s=3.0)


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def mono(self) -> float:
        return self.t

    def wall(self) -> float:
        return 1_800_000_000.0 + self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


class FakeProc:
    next_pid = 1000

    def __init__(self, *, obeys_term: bool = True, exit_code: int | None = None) -> None:
        FakeProc.next_pid += 1
        self.pid = FakeProc.next_pid
        self.start_ticks: int | None = None
        self.exit: Exit | None = None if exit_code is None else Exit(exit_code)
        self.obeys_term = obeys_term
        self.signals: list[int] = []

    def poll(self) -> Exit | None:
        return self.exit

    def signal(self, sig: int) -> None:
        self.signals.append(sig)
        if sig == signal.SIGKILL or (sig == signal.SIGTERM and self.obeys_term):
            self.exit = self.exit or Exit(-sig)

    def crash(self, code: int = -9) -> None:
        self.exit = Exit(code)


class FakeLauncher:
    def __init__(self) -> None:
        self.started: list[tuple[str, FakeProc]] = []
        self.hooks: list[FakeProc] = []
        self.hook_code: int | None = 0
        self.up: set[str] = set()
        self.adoptable: dict[int, FakeProc] = {}
        self.obeys_term = True

    def start(self, spec: Spec) -> FakeProc:
        proc = FakeProc(obeys_term=self.obeys_term)
        self.started.append((spec.name, proc))
        return proc

    def hook(self, spec: Spec) -> FakeProc:
        proc = FakeProc(exit_code=self.hook_code)
        self.hooks.append(proc)
        return proc

    def healthy(self, url: str) -> bool:
        return url in self.up

    def adopt(self, pid: int, start_ticks: int | None) -> FakeProc | None:
        return self.adoptable.get(pid)

    def last(self, name: str) -> FakeProc:
        return [p for n, p in self.started if n == name][-1]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def launcher() -> FakeLauncher:
    return FakeLauncher()


def make(tmp_path: Path, launcher: FakeLauncher, clock: Clock) -> Supervisor:
    return Supervisor(tmp_path, launcher, timings=TIMINGS, clock=clock.mono, wall=clock.wall, log=lambda _m: None)


WRITER = Spec("writer", ("python", "-m", "writer.consumer"), config="c1")


def unit_state(tmp_path: Path, name: str) -> dict[str, object]:
    return dict(read_state(tmp_path)["services"][name])


def test_a_crash_is_restarted_after_a_doubling_backoff_and_recorded(
    tmp_path: Path, launcher: FakeLauncher, clock: Clock
) -> None:
    # GIVEN a running writer
    write_desired(tmp_path, [WRITER])
    sup = make(tmp_path, launcher, clock)
    sup.tick()
    first = launcher.last("writer")
    assert unit_state(tmp_path, "writer")["state"] == "running"

    # WHEN it is killed THEN it is restarted after 0.5 s, and the restart is recorded
    clock.advance(20)
    first.crash(-9)
    sup.tick()
    state = unit_state(tmp_path, "writer")
    assert state["state"] == "backoff" and state["restart_in_s"] == 0.5 and state["pid"] is None
    clock.advance(0.4)
    sup.tick()
    assert len(launcher.started) == 1
    clock.advance(0.1)
    sup.tick()
    second = launcher.last("writer")
    assert second is not first
    state = unit_state(tmp_path, "writer")
    assert state["state"] == "running" and state["pid"] == second.pid
    assert state["restarts"] == 1 and state["last_exit_code"] == -9 and state["last_exit_at"] == clock.wall() - 0.5

    # Quick crashes in a row double the delay up to the cap ...
    delays = []
    for _ in range(5):
        launcher.last("writer").crash(1)
        sup.tick()
        delays.append(unit_state(tmp_path, "writer")["restart_in_s"])
        clock.advance(float(delays[-1]))  # type: ignore[arg-type]
        sup.tick()
    assert delays == [1.0, 2.0, 4.0, 4.0, 4.0]
    assert unit_state(tmp_path, "writer")["restarts"] == 6
    # ... and a crash after a good run starts over at the first delay.
    clock.advance(TIMINGS.reset_after_s)
    launcher.last("writer").crash(1)
    sup.tick()
    assert unit_state(tmp_path, "writer")["restart_in_s"] == 0.5


def test_restart_and_removal_are_deliberate_not_crashes(tmp_path: Path, launcher: FakeLauncher, clock: Clock) -> None:
    write_desired(tmp_path, [WRITER])
    sup = make(tmp_path, launcher, clock)
    sup.tick()
    first = launcher.last("writer")

    # WHEN `make restart writer` bumps the generation THEN SIGTERM, and a new process at once
    write_desired(tmp_path, [replace(WRITER, generation=2)])
    sup.tick()
    assert first.signals == [signal.SIGTERM] and unit_state(tmp_path, "writer")["state"] == "stopping"
    sup.tick()
    second = launcher.last("writer")
    assert second is not first
    state = unit_state(tmp_path, "writer")
    assert state["state"] == "running" and state["restarts"] == 0 and state["last_exit_code"] is None

    # A changed configuration recreates it, also without counting
    write_desired(tmp_path, [replace(WRITER, generation=2, config="c2")])
    sup.tick()
    sup.tick()
    assert launcher.last("writer") is not second and unit_state(tmp_path, "writer")["restarts"] == 0

    # WHEN it is no longer wanted THEN it is stopped and stays stopped
    write_desired(tmp_path, [])
    sup.tick()
    sup.tick()
    clock.advance(60)
    sup.tick()
    assert len(launcher.started) == 3
    assert unit_state(tmp_path, "writer")["state"] == "stopped" and unit_state(tmp_path, "writer")["restarts"] == 0


def test_a_new_generation_during_backoff_starts_at_once_without_counting(
    tmp_path: Path, launcher: FakeLauncher, clock: Clock
) -> None:
    write_desired(tmp_path, [WRITER])
    sup = make(tmp_path, launcher, clock)
    sup.tick()
    for _ in range(4):  # a crash loop: the delay is up to 4 s
        launcher.last("writer").crash(1)
        sup.tick()
        clock.advance(float(unit_state(tmp_path, "writer")["restart_in_s"]))  # type: ignore[arg-type]
        sup.tick()
    launcher.last("writer").crash(1)
    sup.tick()
    restarts = unit_state(tmp_path, "writer")["restarts"]
    # `make up` asks for it (a new generation): no waiting for the backoff
    write_desired(tmp_path, [replace(WRITER, generation=2)])
    sup.tick()
    assert unit_state(tmp_path, "writer")["state"] == "running"
    assert unit_state(tmp_path, "writer")["restarts"] == restarts


def test_a_stop_that_sigterm_does_not_end_escalates_to_sigkill_after_the_grace(
    tmp_path: Path, launcher: FakeLauncher, clock: Clock
) -> None:
    launcher.obeys_term = False
    write_desired(tmp_path, [WRITER])
    sup = make(tmp_path, launcher, clock)
    sup.tick()
    write_desired(tmp_path, [])
    sup.tick()
    proc = launcher.last("writer")
    clock.advance(TIMINGS.stop_grace_s - 0.1)
    sup.tick()
    assert proc.signals == [signal.SIGTERM]
    clock.advance(0.1)
    sup.tick()
    assert proc.signals == [signal.SIGTERM, signal.SIGKILL]
    sup.tick()
    assert unit_state(tmp_path, "writer")["state"] == "stopped"


def test_health_then_the_post_start_hook_make_a_service_running(
    tmp_path: Path, launcher: FakeLauncher, clock: Clock
) -> None:
    emulator = Spec("emulator", ("moto",), health="http://h/emulator", post_start=("prepare",), config="e")
    write_desired(tmp_path, [emulator])
    sup = make(tmp_path, launcher, clock)
    sup.tick()
    sup.tick()
    assert unit_state(tmp_path, "emulator")["state"] == "starting" and launcher.hooks == []
    launcher.up.add("http://h/emulator")
    sup.tick()  # healthy: the hook starts (it exits 0 at once in this fake)
    assert len(launcher.hooks) == 1
    sup.tick()
    assert unit_state(tmp_path, "emulator")["state"] == "running"

    # After a crash the hook runs again (the emulator lost its bucket and stream)
    launcher.last("emulator").crash(-9)
    sup.tick()
    clock.advance(0.5)
    launcher.hook_code = 1
    sup.tick()
    sup.tick()
    sup.tick()
    state = unit_state(tmp_path, "emulator")
    assert len(launcher.hooks) == 2 and state["state"] == "running" and "hook exited with code 1" in str(state["error"])


def test_shutdown_stops_in_reverse_start_order_and_restarts_nothing(
    tmp_path: Path, launcher: FakeLauncher, clock: Clock
) -> None:
    names = ["emulator", "ingestion", "writer"]
    write_desired(tmp_path, [Spec(n, (n,), config=n) for n in names])
    launcher.obeys_term = False  # each exits when the test says, to see the order
    sup = make(tmp_path, launcher, clock)
    sup.tick()
    sup.request_shutdown()
    stopped = []
    for _ in range(10):
        sup.tick()
        for name in names:
            proc = launcher.last(name)
            if proc.signals and proc.exit is None:
                stopped.append(name)
                proc.crash(0)  # it exits on the SIGTERM
        if sup.done:
            break
    assert stopped == ["writer", "ingestion", "emulator"]
    assert sup.done and len(launcher.started) == 3
    snapshot = read_state(tmp_path)
    assert snapshot["supervisor"]["state"] == "stopped"
    assert {s["state"] for s in snapshot["services"].values()} == {"stopped"}


def test_a_new_supervisor_adopts_what_a_killed_one_left_running(
    tmp_path: Path, launcher: FakeLauncher, clock: Clock
) -> None:
    # GIVEN the state a killed supervisor left: the writer alive, the query API dead
    alive = FakeProc()
    launcher.adoptable[alive.pid] = alive
    write_json(
        tmp_path / "state.json",
        {
            "supervisor": {"pid": 1, "state": "running"},
            "services": {
                "writer": {"state": "running", "pid": alive.pid, "generation": 1, "config": "c1", "restarts": 2,
                           "last_exit_code": -9, "last_exit_at": 5.0, "started_at": clock.wall() - 30},
                "query": {"state": "running", "pid": 4242, "generation": 1, "config": "q", "restarts": 0},
            },
        },
    )  # fmt: skip
    write_desired(tmp_path, [WRITER, Spec("query", ("q",), config="q")])
    sup = make(tmp_path, launcher, clock)
    sup.adopt()
    sup.tick()
    # THEN the writer keeps its pid and history; the dead query API is started (not as a crash)
    writer = unit_state(tmp_path, "writer")
    assert writer["pid"] == alive.pid and writer["adopted"] is True and writer["restarts"] == 2
    assert [n for n, _ in launcher.started] == ["query"]
    assert unit_state(tmp_path, "query")["restarts"] == 0
    # An adopted process that dies is restarted like any other (its exit code is unknown)
    alive.crash(-9)
    alive.exit = Exit(None)
    sup.tick()
    clock.advance(0.5)
    sup.tick()
    writer = unit_state(tmp_path, "writer")
    assert writer["restarts"] == 3 and writer["last_exit_code"] is None and writer["adopted"] is False


def test_after_a_clean_stop_a_new_supervisor_starts_fresh(tmp_path: Path, launcher: FakeLauncher, clock: Clock) -> None:
    write_json(
        tmp_path / "state.json",
        {"supervisor": {"state": "stopped"}, "services": {"writer": {"state": "stopped", "restarts": 7}}},
    )
    write_desired(tmp_path, [WRITER])
    sup = make(tmp_path, launcher, clock)
    sup.adopt()
    sup.tick()
    assert unit_state(tmp_path, "writer")["restarts"] == 0


def test_real_processes_a_sigkilled_child_is_restarted(tmp_path: Path) -> None:
    """The real launcher: its own process group, output in the log, a restart after SIGKILL."""
    run, logs = tmp_path / "run", tmp_path / "logs"
    code = "import sys, time; print('up', flush=True); time.sleep(60)"
    write_desired(run, [Spec("sleeper", (sys.executable, "-c", code), config="s")])
    sup = Supervisor(run, ProcessLauncher(logs), timings=Timings(backoff_s=0.05), log=lambda _m: None)

    def started(times: int) -> bool:
        deadline = time.monotonic() + 10
        while (logs / "sleeper.log").read_text().count("up\n") < times and time.monotonic() < deadline:
            time.sleep(0.02)
        return (logs / "sleeper.log").read_text().count("up\n") == times

    try:
        sup.tick()
        first = read_state(run)["services"]["sleeper"]
        assert first["state"] == "running" and is_alive(first["pid"], first["pid_start"])
        assert started(1)
        os.kill(first["pid"], signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            sup.tick()
            now = read_state(run)["services"]["sleeper"]
            if now["restarts"] == 1 and now["state"] == "running":
                break
            time.sleep(0.02)
        assert now["restarts"] == 1 and now["last_exit_code"] == -signal.SIGKILL and now["pid"] != first["pid"]
        assert started(2)
    finally:
        sup.request_shutdown()
        deadline = time.monotonic() + 10
        while not sup.done and time.monotonic() < deadline:
            sup.tick()
            time.sleep(0.02)
    assert sup.done
    assert json.loads((run / "state.json").read_text())["services"]["sleeper"]["state"] == "stopped"
