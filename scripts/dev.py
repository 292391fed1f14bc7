"""Run Prism without Docker, with ``docker compose`` semantics:

    python -m scripts.dev up                   # start what is not running, leave healthy services alone
    python -m scripts.dev restart [SERVICE...] # stop and start (all, in start order, without names)
    python -m scripts.dev status [--json]      # state, pid, uptime, restarts; the pipeline figures
    python -m scripts.dev logs [SERVICE...]    # follow the logs
    python -m scripts.dev down                 # stop everything, the supervisor last

The same functions as in compose, as local processes: an S3/Kinesis emulator (moto server), the
ingestion API, the writer (``writer.consumer``; ``writer.kinesis_poller`` when ``PRISM_BUS=kinesis``),
the query API, the chat API and the web UI (built on first use; skipped without Node), with
migrations on the local PostgreSQL before the ingestion API. ``up`` starts a supervisor
(``scripts/supervisor.py``) that owns them and restarts a crashed one with backoff; this module
tells it what should run (``<state>/run/services.json``) and reads what does (``state.json``).
Logs in ``<state>/logs/``. Ports and the URLs derived from them: ``scripts/local_config.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from scripts.local_config import LocalConfigError, LocalSettings, read_env_file
from scripts.supervisor import (
    LOCK,
    PIDFILE,
    SPEC_PREFIXES,
    Spec,
    describe,
    is_alive,
    read_desired,
    read_state,
    write_desired,
    write_json,
)
from scripts.supervisor import STATE as STATE_FILE

ROOT = Path(__file__).resolve().parent.parent
#: How long ``up`` and ``restart`` wait for one service to be ready.
READY_TIMEOUT_S = 90.0


class SetupError(RuntimeError):
    """The local stack cannot be started as configured; the message says why and what to do."""


@dataclass
class Service:
    name: str
    argv: list[str]
    health: str | None = None  # URL answering 200 when ready
    env: dict[str, str] = field(default_factory=dict)
    post_start: list[str] | None = None  # run once the service is healthy, after every (re)start
    ready_after_s: float = 0.0  # ready only once it has run this long (and its health URL answers)
    port: int | None = None  # the port it listens on (checked free before it is started)


def uvicorn_argv(app: str, port: str | int, *extra: str) -> list[str]:
    """How every HTTP function runs locally: uvicorn on loopback, no access log."""
    return [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port), "--no-access-log", *extra]


# --- configuration


@dataclass
class Context:
    """The configuration of one command: the environment over ``.env`` over the defaults."""

    env: dict[str, str]  # what a service process sees (before its own ``Service.env``)
    local: LocalSettings
    overlay: dict[str, str]  # the part of ``env`` a service spec carries (the supervisor adds PATH, HOME...)

    @property
    def run_dir(self) -> Path:
        return self.local.run_dir

    @property
    def log_dir(self) -> Path:
        return self.local.log_dir


def context(environ: dict[str, str] | None = None) -> Context:
    environ = dict(os.environ if environ is None else environ)
    env_file = LocalSettings.from_env(environ).env_file  # PRISM_ENV_FILE: from the environment only
    dotenv = read_env_file(env_file)
    merged = {**dotenv, **environ}
    local = LocalSettings.from_env(merged)
    env = dict(merged)
    for key, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": "",
    }.items():
        env.setdefault(key, value)
    env.update(local.derived(merged))
    env["PRISM_STATE_DIR"], env["PRISM_ENV_FILE"] = str(local.state_dir), str(local.env_file)
    overlay = {k: v for k, v in env.items() if k in dotenv or k.startswith(SPEC_PREFIXES)}
    return Context(env=env, local=local, overlay=overlay)


def local_env() -> dict[str, str]:
    """The environment of the local stack's processes (see :func:`context`)."""
    return context().env


def writer_argv(env: dict[str, str]) -> list[str]:
    """The writer for the configured bus: Redis Streams consumer, or the local Kinesis poller."""
    if env.get("PRISM_BUS", "redis") != "kinesis":
        return [sys.executable, "-m", "writer.consumer"]
    if not (_importable("writer.kinesis_poller") or (ROOT / "functions" / "writer" / "kinesis_poller").is_dir()):
        raise SetupError(
            "PRISM_BUS=kinesis needs the local Kinesis poller (python -m writer.kinesis_poller), which this "
            "checkout does not have (functions/writer/kinesis_poller.py); set PRISM_BUS=redis or update Prism"
        )
    return [sys.executable, "-m", "writer.kinesis_poller"]


def services(env: dict[str, str]) -> list[Service]:
    """The local stack in start order; each one's dependencies come before it."""
    py = sys.executable
    local = LocalSettings.from_env(env)

    def own_dir(var: str, under_state: str) -> dict[str, str]:
        """A directory of this stack's own (the Kinesis checkpoints, the chat's spool) unless set."""
        return {} if env.get(var) else {var: str(local.state_dir / under_state)}

    out = [
        Service(
            "emulator",
            [py, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(local.emulator_port)],
            f"{local.url(local.emulator_port)}/moto-api/",
            post_start=[py, "-m", "scripts.dev", "prepare-aws"],
            port=local.emulator_port,
        ),
        Service(
            "ingestion",
            uvicorn_argv("ingestion.app:app", local.ingestion_port),
            f"{local.url(local.ingestion_port)}/readyz",
            port=local.ingestion_port,
        ),
        # No port: ready once it survived its start (connected to Redis/Kinesis, PostgreSQL, S3).
        Service("writer", writer_argv(env), ready_after_s=2.0, env=own_dir("PRISM_KINESIS_CHECKPOINT_DIR", "kinesis")),
        # Sign-in, users, keys and projects; creates the first admin at its first start.
        Service(
            "identity",
            uvicorn_argv("identity.app:app", local.identity_port),
            f"{local.url(local.identity_port)}/healthz",
            port=local.identity_port,
        ),
        Service(
            "query",
            uvicorn_argv("query.app:app", local.query_port),
            f"{local.url(local.query_port)}/healthz",
            port=local.query_port,
        ),
    ]
    if _importable("chat.app"):
        # The chat's SDK spool belongs to this stack (another stack's chat must not send its events).
        spool = own_dir("PRISM_SPOOL_DIR", "spool/chat")
        out.append(
            Service(
                "chat",
                uvicorn_argv("chat.app:app", local.chat_port),
                f"{local.url(local.chat_port)}/healthz",
                env=spool,
                port=local.chat_port,
            )
        )
    if local.web != "off" and (ROOT / "web" / "package.json").exists():
        out.append(
            Service(
                "web",
                [py, "-m", "scripts.web", "--port", str(local.web_port)],
                f"{local.url(local.web_port)}/config.json",
                port=local.web_port,
            )
        )
    return out


def _importable(module: str) -> bool:
    path = ROOT / "functions" / Path(*module.split(".")).with_suffix(".py")
    return path.exists()


def to_spec(service: Service, ctx: Context, generation: int) -> Spec:
    env = {**ctx.overlay, **service.env}
    # The emulator reads none of Prism's settings: changing them must not restart it (moto keeps
    # its buckets and streams in memory).
    relevant = {} if service.name == "emulator" else env
    config = hashlib.sha256(
        json.dumps([service.argv, relevant, service.health, service.post_start], sort_keys=True).encode()
    ).hexdigest()[:16]
    return Spec(
        name=service.name,
        argv=tuple(service.argv),
        env=env,
        health=service.health,
        post_start=tuple(service.post_start) if service.post_start else None,
        config=config,
        generation=generation,
        ready_after_s=service.ready_after_s,
    )


# --- processes started without the supervisor (the tests' Stack, migrations)


def spawn(service: Service, env: dict[str, str], log_dir: Path) -> subprocess.Popen[bytes]:
    log_dir.mkdir(parents=True, exist_ok=True)
    log = open(log_dir / f"{service.name}.log", "ab")  # noqa: SIM115 - the child owns it
    return subprocess.Popen(
        service.argv,
        env={**env, **service.env},
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
        start_new_session=True,
    )


def wait_healthy(url: str, proc: subprocess.Popen[bytes] | None, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} was ready")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - loopback only
                if resp.status == 200:
                    return
        except OSError as exc:
            last = str(exc)
        time.sleep(0.2)
    raise TimeoutError(f"{url} not ready after {timeout:.0f}s ({last})")


def prepare_aws(env: dict[str, str]) -> None:
    """Create the bucket, the Kinesis stream and the writer's dead-letter queue in the emulator
    (what localstack/init/ready.d does for LocalStack)."""
    os.environ.update({k: v for k, v in env.items() if k.startswith("AWS_")})
    import localstack_client.session

    session = localstack_client.session.Session(region_name=env["AWS_DEFAULT_REGION"])
    s3 = session.client("s3")
    bucket = env.get("PRISM_RAW_BUCKET", "prism-raw-payloads")
    if bucket not in [b["Name"] for b in s3.list_buckets().get("Buckets", [])]:
        s3.create_bucket(Bucket=bucket)
    kinesis = session.client("kinesis")
    stream = env.get("PRISM_KINESIS_STREAM", "prism-inference-logged")
    if stream not in kinesis.list_streams().get("StreamNames", []):
        kinesis.create_stream(StreamName=stream, ShardCount=1)
    dlq = env.get("PRISM_WRITER_DLQ") or "prism-writer-dead-letters"
    if not dlq.startswith(("http://", "https://")):  # a queue URL names a queue that exists elsewhere
        session.client("sqs").create_queue(QueueName=dlq)


def migrate(ctx: Context) -> None:
    res = subprocess.run(
        [sys.executable, "-m", "prism.migrate"], env=ctx.env, cwd=ROOT, capture_output=True, text=True, check=False
    )
    if res.returncode != 0:
        raise SetupError(f"migrations failed (python -m prism.migrate):\n{res.stdout[-2000:]}{res.stderr[-3000:]}")


# --- the supervisor


@contextlib.contextmanager
def command_lock(ctx: Context) -> Iterator[None]:
    """One ``up``/``down``/``restart`` at a time per state directory."""
    ctx.run_dir.mkdir(parents=True, exist_ok=True)
    with open(ctx.run_dir / "command.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print("  waiting for another make up/down/restart to finish ...", flush=True)
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def supervisor_pid(ctx: Context) -> int | None:
    """The running supervisor's pid (it holds ``supervisor.lock`` for its whole life), or None."""
    path = ctx.run_dir / LOCK
    if not path.exists():
        return None
    with open(path) as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            with contextlib.suppress(OSError, ValueError):
                return int((ctx.run_dir / PIDFILE).read_text())
            return -1  # starting: locked, pid not written yet
        fcntl.flock(lock, fcntl.LOCK_UN)
    return None


def ensure_supervisor(ctx: Context) -> tuple[int, bool]:
    """The supervisor's pid, started first if it does not run; True when it was started now."""
    pid = supervisor_pid(ctx)
    if pid is not None and pid > 0:
        return pid, False
    ctx.log_dir.mkdir(parents=True, exist_ok=True)
    local = ctx.local
    with open(ctx.log_dir / "supervisor.log", "ab") as log:
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "scripts.supervisor", "--state-dir", str(local.state_dir),
                "--backoff", str(local.supervisor_backoff_s), "--backoff-max", str(local.supervisor_backoff_max_s),
                "--stop-grace", str(local.supervisor_stop_grace_s),
            ],
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,
        )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SetupError(f"the supervisor exited with {proc.returncode}: {_tail(ctx, 'supervisor')}")
        if read_state(ctx.run_dir).get("supervisor", {}).get("pid") == proc.pid:
            return proc.pid, True
        time.sleep(0.05)
    raise SetupError(f"the supervisor did not start in 30 s: {_tail(ctx, 'supervisor')}")


def wait_running(
    ctx: Context, name: str, generation: int, since: float, timeout: float = READY_TIMEOUT_S
) -> dict[str, Any]:
    """The service's state once the supervisor reports it running (healthy, post-start hook done)."""
    deadline = time.monotonic() + timeout
    unit: dict[str, Any] = {}
    while time.monotonic() < deadline:
        unit = read_state(ctx.run_dir).get("services", {}).get(name) or {}
        if unit.get("generation") == generation:
            if unit.get("state") == "running":
                return unit
            if (unit.get("last_exit_at") or 0) >= since:
                code = unit.get("last_exit_code")
                raise SetupError(f"{name} exited with {describe(code)} before it was ready")
            if unit.get("error"):
                raise SetupError(f"{name}: {unit['error']}")
        if supervisor_pid(ctx) is None:
            raise SetupError(f"the supervisor exited: {_tail(ctx, 'supervisor')}")
        time.sleep(0.1)
    raise SetupError(f"{name} not ready after {timeout:.0f}s (state: {unit.get('state', 'unknown')})")


def _tail(ctx: Context, name: str, chars: int = 3000) -> str:
    path = ctx.log_dir / f"{name}.log"
    return path.read_text(errors="replace")[-chars:] if path.exists() else "(no log)"


def port_in_use(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _alive_unit(unit: dict[str, Any] | None) -> bool:
    return bool(unit and unit.get("pid") and is_alive(int(unit["pid"]), unit.get("pid_start")))


def _kill_group(pid: int, ticks: int | None, grace: float) -> None:
    """SIGTERM to the process group, SIGKILL if it is still there after ``grace`` seconds."""
    with contextlib.suppress(OSError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while is_alive(pid, ticks) and time.monotonic() < deadline:
        time.sleep(0.1)
    if is_alive(pid, ticks):
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)


def stop_legacy(ctx: Context) -> list[str]:
    """Stop services an older ``make up`` started (one ``<name>.pid`` each, no supervisor)."""
    stopped = []
    for pidfile in sorted(ctx.run_dir.glob("*.pid")) if ctx.run_dir.exists() else []:
        if pidfile.name == PIDFILE:
            continue
        with contextlib.suppress(OSError, ValueError):
            pid = int(pidfile.read_text())
            if is_alive(pid):
                _kill_group(pid, None, ctx.local.supervisor_stop_grace_s)
                stopped.append(pidfile.stem)
        pidfile.unlink(missing_ok=True)
    return stopped


# --- commands


def up(ctx: Context) -> int:
    wanted = services(ctx.env)
    began = time.time()
    with command_lock(ctx):
        for name in stop_legacy(ctx):
            print(f"  {name:<10} stopped (started by an older make up without a supervisor)")
        pid, fresh = ensure_supervisor(ctx)
        print(f"  {'supervisor':<10} {'started' if fresh else 'running'} (pid {pid})")
        desired = {s.name: s for s in read_desired(ctx.run_dir)}
        names = [s.name for s in wanted]
        order = names + [n for n in desired if n not in names]
        for service in wanted:
            state = read_state(ctx.run_dir).get("services", {})
            unit = state.get(service.name)
            prev = desired.get(service.name)
            generation = prev.generation if prev else 0
            candidate = to_spec(service, ctx, generation)
            alive = _alive_unit(unit) and (unit or {}).get("state") in ("starting", "running")
            if service.name == "web" and not (alive and prev) and not _web_built():
                desired.pop("web", None)
                order.remove("web")
                write_desired(ctx.run_dir, [desired[n] for n in order if n in desired])
                continue
            if service.name == "ingestion":
                migrate(ctx)
            if prev is not None and alive and prev.config == candidate.config:
                spec, action = prev, "running"  # left alone
            elif not alive and service.port is not None and port_in_use(service.port):
                raise SetupError(
                    f"{service.name}: port {service.port} is in use by another process (another Prism? "
                    f"set PRISM_{service.name.upper()}_PORT)"
                )
            else:
                spec = replace(candidate, generation=generation + 1)
                action = "recreated (configuration changed)" if alive and prev else "started"
            desired[service.name] = spec
            since = time.time()
            write_desired(ctx.run_dir, [desired[n] for n in order if n in desired])
            try:
                unit = wait_running(ctx, service.name, spec.generation, since)
            except SetupError as exc:
                print(f"  {service.name:<10} failed: {exc}\n{_tail(ctx, service.name)}")
                print(
                    f"\nThe supervisor keeps restarting {service.name} with backoff; `make status`, "
                    f"`make logs {service.name}`, `make down` to stop everything."
                )
                return 1
            if action == "running" and (unit.get("started_at") or 0) >= began:
                action = "started"  # by a supervisor started just now, which had it on its list
            print(f"  {service.name:<10} {action} (pid {unit['pid']})")
        gone = [n for n in desired if n not in names]
        if gone:  # no longer part of the stack (e.g. PRISM_WEB=off): the supervisor stops them
            write_desired(ctx.run_dir, [desired[n] for n in names if n in desired])
            print(f"  {', '.join(gone)}: no longer part of the stack, stopping")
    local = ctx.local
    print(
        "\nPrism is running:\n"
        f"  Chat API         http://localhost:{local.chat_port}/docs\n"
        f"  Ingestion API    http://localhost:{local.ingestion_port}/docs\n"
        f"  Query API        http://localhost:{local.query_port}/docs\n"
        f"  Identity API     http://localhost:{local.identity_port}/docs\n"
        f"  Web UI           http://localhost:{local.web_port}\n"
        f"  S3/Kinesis emu   {ctx.env['AWS_ENDPOINT_URL']}\n"
        f"  PostgreSQL       {ctx.env.get('PRISM_DATABASE_URL', 'postgresql://postgres@127.0.0.1:5432/prism')}\n"
        "  Status: make status   Logs: make logs [SERVICE]   Restart: make restart [SERVICE]   Stop: make down"
    )
    admin = ctx.env.get("PRISM_ADMIN_EMAIL") or "admin@localhost"
    login = f"http://localhost:{local.web_port}/login/"
    print(f"\nLog in at {login} as {admin}; the password is PRISM_ADMIN_PASSWORD in .env")
    return 0


def _web_built() -> bool:
    """Build the web UI if it is missing or stale (the first time: about a minute). Without Node,
    the rest of Prism runs without it."""
    from scripts.web import BuildError, ensure_built, find_npm

    print("  web        building the UI if needed (npm ci, next build) ...", flush=True)
    try:
        ensure_built(find_npm())
    except BuildError as exc:
        print(f"  web        skipped: {str(exc).splitlines()[0]}")
        return False
    return True


def restart(ctx: Context, names: list[str]) -> int:
    by_name = {s.name: s for s in services(ctx.env)}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        print(f"unknown service {', '.join(unknown)} (one of: {', '.join(by_name)})")
        return 2
    with command_lock(ctx):
        if supervisor_pid(ctx) is None:
            if not any(_alive_unit(u) for u in read_state(ctx.run_dir).get("services", {}).values()):
                print("Prism is not running: make up")
                return 1
            ensure_supervisor(ctx)  # its supervisor was killed: a new one adopts what still runs
        desired = {s.name: s for s in read_desired(ctx.run_dir)}
        targets = [n for n in by_name if n in names] if names else [n for n in by_name if n in desired]
        order = list(by_name) + [n for n in desired if n not in by_name]
        for name in targets:
            before = read_state(ctx.run_dir).get("services", {}).get(name) or {}
            old = before.get("pid") if _alive_unit(before) else None
            prev = desired.get(name)
            spec = to_spec(by_name[name], ctx, (prev.generation if prev else 0) + 1)
            desired[name] = spec
            since = time.time()
            write_desired(ctx.run_dir, [desired[n] for n in order if n in desired])
            try:
                unit = wait_running(ctx, name, spec.generation, since)
            except SetupError as exc:
                print(f"  {name:<10} failed: {exc}\n{_tail(ctx, name)}")
                return 1
            print(f"  {name:<10} restarted (pid {old or '-'} -> {unit['pid']})")
    return 0


def down(ctx: Context) -> int:
    grace = ctx.local.supervisor_stop_grace_s
    with command_lock(ctx):
        state = read_state(ctx.run_dir)
        units: dict[str, Any] = state.get("services", {})
        pid = supervisor_pid(ctx)
        if pid is not None and pid > 0:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + grace * (len(units) + 1) + 10
            while supervisor_pid(ctx) is not None and time.monotonic() < deadline:
                time.sleep(0.1)
            if supervisor_pid(ctx) is not None:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
        write_desired(ctx.run_dir, [])  # a supervisor started later starts nothing by itself
        for name in reversed(list(units)):  # left behind by a supervisor that was killed
            unit = units[name]
            if _alive_unit(unit):
                _kill_group(int(unit["pid"]), unit.get("pid_start"), grace)
        known = [n for n in state.get("order", []) if n in units]
        order = known + [n for n in units if n not in known]
        stopped = [n for n in order if units[n].get("pid") or units[n].get("state") != "stopped"]
        stopped += stop_legacy(ctx)
        final = read_state(ctx.run_dir)
        if final:
            final.setdefault("supervisor", {})["state"] = "stopped"
            for unit in final.get("services", {}).values():
                unit.update(state="stopped", pid=None, pid_start=None, started_at=None)
            write_json(ctx.run_dir / STATE_FILE, final)
    if not stopped and pid is None:
        print("Prism is not running")
    for name in reversed(stopped):
        print(f"  {name:<10} stopped")
    if pid is not None:
        print(f"  {'supervisor':<10} stopped")
    return 0


def service_rows(ctx: Context) -> list[dict[str, Any]]:
    """One row per service: what the supervisor reports, checked against the process table."""
    state = read_state(ctx.run_dir)
    supervised = supervisor_pid(ctx) is not None
    units: dict[str, Any] = state.get("services", {})
    desired = {s.name: s for s in read_desired(ctx.run_dir)}
    try:
        names = [s.name for s in services(ctx.env)]
    except SetupError:
        names = list(state.get("order", []))
    names += [n for n in units if n not in names]
    now = time.time()
    rows = []
    for name in names:
        unit = units.get(name) or {}
        alive = _alive_unit(unit)
        if alive and supervised:
            phase = unit.get("state", "running")
        elif alive:
            phase = "running (unsupervised)"
        elif supervised and unit.get("state") == "backoff":
            phase = "backoff"
        else:
            phase = "stopped" if not unit.get("pid") or unit.get("state") == "stopped" else "dead"
        health = desired[name].health if name in desired else None
        healthy = _probe(health) if alive and health else None
        rows.append(
            {
                "service": name,
                "state": phase,
                "healthy": healthy,
                "pid": unit.get("pid") if alive else None,
                "uptime_s": round(now - unit["started_at"], 1) if alive and unit.get("started_at") else None,
                "restarts": int(unit.get("restarts") or 0),
                "last_exit_code": unit.get("last_exit_code"),
                "last_exit_at": unit.get("last_exit_at"),
                "restart_in_s": unit.get("restart_in_s") if phase == "backoff" else None,
            }
        )
    return rows


def _probe(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - loopback only
            return bool(resp.status == 200)
    except OSError:
        return False


def pipeline_figures(ctx: Context) -> dict[str, Any]:
    """Lag, pending, dead letters...: from the ingestion API's ``/readyz``, or straight from the
    bus (its adapter's ``stats()``) when the ingestion API does not answer."""
    url = f"{ctx.local.url(ctx.local.ingestion_port)}/readyz"
    out: dict[str, Any] = {"source": f"GET {url}"}
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - loopback only
            body = json.loads(resp.read())
        out.update(status=body.get("status", "ok"), figures=body.get("pipeline") or {})
        return out
    except urllib.error.HTTPError as exc:  # 503 not ready: the body still has the figures
        with contextlib.suppress(ValueError):
            error = json.loads(exc.read()).get("error", {})
            out.update(status="not ready", message=error.get("message"), figures=error.get("pipeline") or {})
            return out
        out.update(status=f"HTTP {exc.code}", figures={})
        return out
    except OSError as exc:
        out["ingestion"] = f"not answering ({getattr(exc, 'reason', exc)})"
    out["source"] = "the bus (stats)"
    try:
        os.environ.update(ctx.env)
        from prism.bootstrap import build_bus
        from prism.config import Settings

        settings = Settings()
        bus = build_bus(settings)
        stats = getattr(bus, "stats", None)
        out.update(status="read from the bus", figures=stats(settings.writer_group) if stats else {})
    except Exception as exc:  # any failure here is reported, status must still print
        out.update(status="unavailable", message=f"{type(exc).__name__}: {exc}", figures={})
    return out


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def _figures_line(figures: dict[str, Any]) -> str:
    flat: dict[str, Any] = {}
    for key, value in figures.items():
        if isinstance(value, dict):
            flat.update({f"{key}.{k}": v for k, v in value.items() if not isinstance(v, (dict, list))})
        elif isinstance(value, list):
            flat[key] = ", ".join(map(str, value)) or "-"
        else:
            flat[key] = value
    first = [k for k in ("lag", "pending", "dead_letters") if k in flat]
    keys = first + [k for k in flat if k not in first]
    return ", ".join(f"{k.replace('_', ' ')} {flat[k]}" for k in keys) or "no figures from this bus"


def status(ctx: Context, as_json: bool = False, pipeline_only: bool = False) -> int:
    rows = [] if pipeline_only else service_rows(ctx)
    pipeline = pipeline_figures(ctx)
    if as_json:
        print(json.dumps({"supervisor_pid": supervisor_pid(ctx), "services": rows, "pipeline": pipeline}, indent=1))
        return 0
    if not pipeline_only:
        pid = supervisor_pid(ctx)
        print(f"supervisor: {f'running (pid {pid})' if pid else 'not running (make up)'}")
        print(f"  {'SERVICE':<10} {'STATE':<24} {'PID':>7}  {'UPTIME':>7}  {'RESTARTS':>8}  LAST CRASH")
        for row in rows:
            state = row["state"] + (" (unhealthy)" if row["healthy"] is False else "")
            if row["restart_in_s"] is not None:
                state += f" {row['restart_in_s']:.0f}s"
            last = "-"
            if row["last_exit_at"]:
                when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(row["last_exit_at"]))
                last = f"{describe(row['last_exit_code'])} at {when}"
            print(
                f"  {row['service']:<10} {state:<24} {row['pid'] or '-':>7}  {_duration(row['uptime_s']):>7}  "
                f"{row['restarts']:>8}  {last}"
            )
    head = f"pipeline, from {pipeline['source']}: {pipeline.get('status')}"
    if pipeline.get("ingestion"):
        head = f"ingestion API {pipeline['ingestion']}; {head}"
    if pipeline.get("message"):
        head += f" ({pipeline['message']})"
    print(f"{head}\n  {_figures_line(pipeline.get('figures') or {})}")
    return 0


def logs(ctx: Context, names: list[str]) -> int:
    files = [ctx.log_dir / f"{n}.log" for n in names] if names else sorted(ctx.log_dir.glob("*.log"))
    files = [f for f in files if f.exists()]
    if not files:
        print("no logs yet: make up" if not names else f"no log for {', '.join(names)} in {ctx.log_dir}")
        return 1
    os.execvp("tail", ["tail", "-n", "50", "-F", *map(str, files)])  # noqa: S606


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.dev", description="Prism without Docker")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("up", help="start every service that is not running")
    sub.add_parser("down", help="stop every service and the supervisor")
    p = sub.add_parser("restart", help="restart the named services (all without names)")
    p.add_argument("names", nargs="*")
    p = sub.add_parser("status", help="services and pipeline figures")
    p.add_argument("--json", action="store_true")
    sub.add_parser("pipeline", help="the pipeline figures only")
    p = sub.add_parser("logs", help="follow the logs")
    p.add_argument("names", nargs="*")
    sub.add_parser("prepare-aws", help="create the bucket and the stream in the emulator")
    args = parser.parse_args(argv)
    try:
        ctx = context()
        if args.command == "up":
            return up(ctx)
        if args.command == "down":
            return down(ctx)
        if args.command == "restart":
            return restart(ctx, args.names)
        if args.command == "logs":
            return logs(ctx, args.names)
        if args.command == "prepare-aws":
            prepare_aws(ctx.env)
            return 0
        return status(ctx, as_json=getattr(args, "json", False), pipeline_only=args.command == "pipeline")
    except (SetupError, LocalConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
