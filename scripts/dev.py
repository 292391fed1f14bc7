"""Run Prism without Docker: ``python -m scripts.dev up|down|logs|status``.

The same functions as in compose, as local processes: an S3/Kinesis emulator (moto server) on
4566, migrations on the local PostgreSQL, the ingestion API on 8101, the writer, the query API on
8102, the chat API on 8100, and the web UI on 3001 (built on first use; skipped without Node).
Pids in ``.prism/run/``, logs in ``.prism/logs/``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATE = Path(os.environ.get("PRISM_STATE_DIR", ROOT / ".prism"))
RUN = STATE / "run"
LOGS = STATE / "logs"


@dataclass
class Service:
    name: str
    argv: list[str]
    health: str | None = None  # URL answering 200 when ready
    env: dict[str, str] = field(default_factory=dict)


def uvicorn_argv(app: str, port: str | int, *extra: str) -> list[str]:
    """How every HTTP function runs locally: uvicorn on loopback, no access log."""
    return [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port), "--no-access-log", *extra]


def services(env: dict[str, str]) -> list[Service]:
    py = sys.executable
    emulator_port = env.get("PRISM_EMULATOR_PORT", "4566")
    out = [
        Service(
            "emulator",
            [py, "-m", "moto.server", "-H", "127.0.0.1", "-p", emulator_port],
            f"http://127.0.0.1:{emulator_port}/moto-api/",
        ),
        Service(
            "ingestion",
            uvicorn_argv("ingestion.app:app", env.get("PRISM_INGESTION_PORT", "8101")),
            f"http://127.0.0.1:{env.get('PRISM_INGESTION_PORT', '8101')}/readyz",
        ),
        Service("writer", [py, "-m", "writer.consumer"]),
        Service(
            "query",
            uvicorn_argv("query.app:app", env.get("PRISM_QUERY_PORT", "8102")),
            f"http://127.0.0.1:{env.get('PRISM_QUERY_PORT', '8102')}/healthz",
        ),
    ]
    if _importable("chat.app"):
        port = env.get("PRISM_CHAT_PORT", "8100")
        out.append(
            Service(
                "chat",
                uvicorn_argv("chat.app:app", port),
                f"http://127.0.0.1:{port}/healthz",
            )
        )
    if env.get("PRISM_WEB", "on") != "off" and (ROOT / "web" / "package.json").exists():
        port = env.get("PRISM_WEB_PORT", "3001")
        out.append(Service("web", [py, "-m", "scripts.web", "--port", port], f"http://127.0.0.1:{port}/config.json"))
    return out


def _importable(module: str) -> bool:
    path = ROOT / "functions" / Path(*module.split(".")).with_suffix(".py")
    return path.exists()


def read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                key, _, value = line.partition("=")
                values[key.strip()] = value.strip().strip('"').strip("'")
    return values


def local_env() -> dict[str, str]:
    env = dict(os.environ)
    for key, value in read_env_file(ROOT / ".env").items():
        env.setdefault(key, value)
    port = env.get("PRISM_EMULATOR_PORT", "4566")
    env.setdefault("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    env.setdefault("AWS_ACCESS_KEY_ID", "test")
    env.setdefault("AWS_SECRET_ACCESS_KEY", "test")
    env.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    env.setdefault("AWS_REGION", "us-east-1")
    env.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    env.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
    env.setdefault("PRISM_INGEST_URL", f"http://127.0.0.1:{env.get('PRISM_INGESTION_PORT', '8101')}")
    # The chat and query APIs always allow the web UI that `make up` serves, whatever its port.
    web = env.get("PRISM_WEB_PORT", "3001")
    origins = [o.strip() for o in env.get("PRISM_CORS_ORIGINS", "").split(",") if o.strip()]
    origins += [o for o in (f"http://localhost:{web}", f"http://127.0.0.1:{web}") if o not in origins]
    env["PRISM_CORS_ORIGINS"] = ",".join(origins)
    return env


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
    """Create the bucket and the Kinesis stream in the emulator (what localstack/init does)."""
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


def up() -> None:
    env = local_env()
    if any(_alive(p) for p in RUN.glob("*.pid")):
        print("Prism is already running (make down first)")
        status()
        return
    RUN.mkdir(parents=True, exist_ok=True)
    for service in services(env):
        if service.name == "ingestion":
            subprocess.run([sys.executable, "-m", "prism.migrate"], env=env, cwd=ROOT, check=True)
        if service.name == "web" and not _web_built():
            continue
        proc = spawn(service, env, LOGS)
        (RUN / f"{service.name}.pid").write_text(str(proc.pid))
        if service.health:
            try:
                wait_healthy(service.health, proc)
            except (RuntimeError, TimeoutError) as exc:
                print(f"{service.name} failed to start: {exc}; see {LOGS / service.name}.log")
                print((LOGS / f"{service.name}.log").read_text()[-3000:])
                down()
                sys.exit(1)
        if service.name == "emulator":
            prepare_aws(env)
        print(f"  {service.name:<10} up (pid {proc.pid})")
    chat = env.get("PRISM_CHAT_PORT", "8100")
    ing = env.get("PRISM_INGESTION_PORT", "8101")
    print(
        "\nPrism is running:\n"
        f"  Chat API         http://localhost:{chat}/docs\n"
        f"  Ingestion API    http://localhost:{ing}/docs\n"
        f"  Query API        http://localhost:{env.get('PRISM_QUERY_PORT', '8102')}/docs\n"
        f"  Web UI           http://localhost:{env.get('PRISM_WEB_PORT', '3001')}\n"
        f"  S3/Kinesis emu   {env['AWS_ENDPOINT_URL']}\n"
        f"  PostgreSQL       {env.get('PRISM_DATABASE_URL', 'postgresql://postgres@127.0.0.1:5432/prism')}\n"
        "  Logs             make logs      Stop: make down"
    )


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


def _alive(pidfile: Path) -> bool:
    try:
        os.kill(int(pidfile.read_text()), 0)
    except (OSError, ValueError):
        return False
    return True


def down() -> None:
    pidfiles = sorted(RUN.glob("*.pid")) if RUN.exists() else []
    for pidfile in pidfiles:
        with contextlib.suppress(OSError, ValueError):
            os.killpg(int(pidfile.read_text()), signal.SIGTERM)
    deadline = time.monotonic() + 10
    for pidfile in pidfiles:
        while _alive(pidfile) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pidfile):
            os.killpg(int(pidfile.read_text()), signal.SIGKILL)
        pidfile.unlink(missing_ok=True)
        print(f"  {pidfile.stem:<10} stopped")


def status() -> None:
    for pidfile in sorted(RUN.glob("*.pid")) if RUN.exists() else []:
        print(f"  {pidfile.stem:<10} {'running' if _alive(pidfile) else 'dead'}")


def logs() -> None:
    files = sorted(LOGS.glob("*.log")) if LOGS.exists() else []
    if not files:
        print("no logs yet: make up")
        return
    os.execvp("tail", ["tail", "-n", "50", "-F", *map(str, files)])  # noqa: S606


def main() -> None:
    command = sys.argv[1] if len(sys.argv) > 1 else "status"
    {"up": up, "down": down, "status": status, "logs": logs}[command]()


if __name__ == "__main__":
    main()
