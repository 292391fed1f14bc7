"""`make up` without Docker, as a user runs it, on one stack for the whole module.

GIVEN only the ports (free ones), a private state directory, database and stream, and a ``.env``
bootstrapped from ``.env.example`` (nothing derived is set), WHEN ``scripts.dev up`` runs THEN every
surface answers on those ports: an event posted to the ingestion API lands in PostgreSQL (its raw
payload in this stack's emulator), a chat turn with the demo model (signed in through the web
origin as the first admin of ``.env``) is found through this stack's query API, the web UI's
config.json points at these ports. Then the runtime: a service killed with
SIGKILL is revived by the supervisor by itself (restart recorded) and by ``make up`` (the others keep
their pids), ``make restart writer`` replaces only the writer, ``make status`` shows services and
pipeline figures, and ``down`` stops everything. Last, no secret of the run (the admin's password,
the session ids set, the read token and the provider key made) is in ``.prism/logs/*`` or in a
response the test read but the one handing it out (issue 11 §5).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psycopg
import pytest
from prism.adapters.postgres import drop_database

from scripts.bootstrap_env import bootstrap, parse
from scripts.local_config import DERIVED
from scripts.supervisor import is_alive
from tests.support.net import free_port

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "tests" / "events"
T = TypeVar("T")


@dataclass
class LocalStack:
    env: dict[str, str]
    api_key: str
    up_output: str
    admin: tuple[str, str] = ("", "")  # the first admin of .env: e-mail, password
    secrets: dict[str, str] = field(default_factory=dict)  # secret -> what it is
    seen: list[httpx.Response] = field(default_factory=list)  # every response of signed_in()

    def signed_in(self) -> httpx.Client:
        """A client signed in as the first admin through the web origin (``POST /api/auth/login``):
        the session cookie kept (sent to the chat's and the query API's ports too: a cookie is per
        host), ``X-CSRF-Token`` on every request. Its session id is one of the run's secrets."""
        client = httpx.Client(timeout=60, event_hooks={"response": [self.seen.append]})
        login = client.post(
            self.url("web") + "/api/auth/login", json={"email": self.admin[0], "password": self.admin[1]}
        )
        assert login.status_code == 200, login.text
        client.headers["X-CSRF-Token"] = login.json()["csrf_token"]
        self.secrets[client.cookies["prism_session"]] = "a session id"
        return client

    def port(self, name: str) -> int:
        return int(self.env[f"PRISM_{name.upper()}_PORT"])

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port(name)}"

    def dev(self, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "scripts.dev", *args],
            env=self.env, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip

    def make(self, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
        """The Makefile target a user types (forced onto the no-Docker path)."""
        return subprocess.run(
            ["make", "-s", *args, "HAS_DOCKER="],
            env=self.env, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip

    def status(self) -> dict[str, Any]:
        out = self.dev("status", "--json", timeout=60)
        assert out.returncode == 0, out.stdout + out.stderr
        return dict(json.loads(out.stdout))

    def services(self) -> dict[str, dict[str, Any]]:
        return {row["service"]: row for row in self.status()["services"]}

    def pids(self) -> dict[str, int]:
        return {name: row["pid"] for name, row in self.services().items()}

    def rows(self, query: str, *args: object) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.env["PRISM_DATABASE_URL"]) as conn:
            return conn.execute(query, args).fetchall()

    def post_event(self, event: dict[str, Any]) -> None:
        response = httpx.post(
            self.url("ingestion") + "/v1/events",
            json={"events": [event]},
            headers={"Authorization": f"Bearer {self.api_key}"},
            timeout=30,
        )
        assert response.status_code == 202, response.text


def wait_for(probe: Callable[[], T | None], what: str, timeout: float = 30.0) -> T:
    """``probe()`` once it returns something truthy; fails with ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not after {timeout:.0f}s")
        time.sleep(0.1)


def event(**fields: Any) -> dict[str, Any]:
    data = json.loads((EVENTS / "minimal.json").read_text())
    return {**data, "id": str(uuid.uuid4()), **fields}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    tmp = tmp_path_factory.mktemp("make-up")
    shutil.copy(ROOT / ".env.example", tmp / ".env.example")
    bootstrap(tmp)  # the .env a new user gets from `make up`
    db = f"postgresql://postgres@127.0.0.1:5432/prism_e2e_{uuid.uuid4().hex[:8]}"
    # Nothing derived (ingest URL, emulator endpoint, CORS, the UI's URLs) is set: only ports. No
    # PRISM_* of the shell running the tests either (the environment wins over .env).
    env = {k: v for k, v in os.environ.items() if k not in DERIVED and not k.startswith("PRISM_")}
    env.update(
        PRISM_ENV_FILE=str(tmp / ".env"),
        PRISM_STATE_DIR=str(tmp / "state"),
        PRISM_DATABASE_URL=db,
        PRISM_REDIS_URL=os.environ.get("PRISM_TEST_REDIS", "redis://127.0.0.1:6379/0"),
        PRISM_STREAM=f"prism-test:{uuid.uuid4().hex[:8]}:inference.logged",
        **{
            f"PRISM_{name}_PORT": str(free_port())
            for name in ("CHAT", "INGESTION", "QUERY", "IDENTITY", "WEB", "EMULATOR")
        },
    )
    dotenv = parse((tmp / ".env").read_text())
    stack = LocalStack(
        env, dotenv["PRISM_API_KEY"], "", admin=(dotenv["PRISM_ADMIN_EMAIL"], dotenv["PRISM_ADMIN_PASSWORD"])
    )
    stack.secrets[stack.admin[1]] = "the admin's password"
    try:
        up = stack.dev("up")
        assert up.returncode == 0, up.stdout + up.stderr
        stack.up_output = up.stdout
        yield stack
    finally:
        stack.dev("down", timeout=120)
        drop_database(db)
        import redis

        client = redis.Redis.from_url(env["PRISM_REDIS_URL"])
        keys = list(client.scan_iter(match=env["PRISM_STREAM"].split(":inference")[0] + ":*"))
        if keys:
            client.delete(*keys)
        client.close()


def test_up_with_only_ports_set_serves_every_surface_on_them(stack: LocalStack) -> None:
    assert "Ingestion API" in stack.up_output and f":{stack.port('ingestion')}/docs" in stack.up_output
    ready = httpx.get(stack.url("ingestion") + "/readyz")
    assert ready.status_code == 200 and set(ready.json()["checks"].values()) == {"ok"}, ready.text

    # An event, and one too big for the bus: its raw payload goes to *this* stack's emulator.
    small = event()
    big = json.loads((EVENTS / "chat_turn_with_pii.json").read_text())
    big.update(id=str(uuid.uuid4()), conversation_id=str(uuid.uuid4()))
    big["request"]["messages"][0]["content"] = "x" * 300_000
    stack.post_event(small)
    stack.post_event(big)
    wait_for(
        lambda: stack.rows("SELECT 1 FROM inference_logs WHERE id = ANY(%s)", [small["id"], big["id"]])[1:],
        "both events stored",
    )
    # The pipeline flows (its writer consumes): /readyz says ok, not degraded.
    assert httpx.get(stack.url("ingestion") + "/readyz").json()["status"] == "ok"
    import boto3

    s3 = boto3.client("s3", endpoint_url=stack.url("emulator"), region_name="us-east-1")
    objects = s3.list_objects_v2(Bucket="prism-raw-payloads").get("Contents", [])
    assert any(big["id"] in o["Key"] for o in objects), objects

    # A chat turn: the chat's SDK sends its event to this stack's ingestion API (the only way it
    # reaches this database), found through this stack's query API, redacted. The chat and the
    # query API need a signed-in caller: the first admin of .env, signed in through the web origin.
    chat, query, web = stack.url("chat"), stack.url("query"), stack.url("web")
    me = stack.signed_in()
    assert httpx.get(query + "/api/logs").status_code == 401  # nobody signed in
    conversation = me.post(chat + "/api/conversations", json={}).json()["id"]
    with me.stream(
        "POST",
        f"{chat}/api/conversations/{conversation}/messages",
        json={"content": "Hello from the e2e test, mail me at e2e@example.com", "model": "demo/prism-demo"},
    ) as stream:
        events = [line[7:] for line in stream.iter_lines() if line.startswith("event: ")]
    assert events[0] == "start" and "delta" in events and events[-1] == "done", events
    logs = wait_for(
        lambda: me.get(query + "/api/logs", params={"conversation_id": conversation}).json()["items"],
        "the chat turn in the query API's logs",
    )
    assert len(logs) == 1 and logs[0]["status"] == "ok" and logs[0]["model"].endswith("prism-demo")
    detail = me.get(f"{query}/api/logs/{logs[0]['id']}").json()
    assert "e2e@example.com" not in json.dumps(detail) and "[EMAIL]" in json.dumps(detail["payload"])
    big_detail = me.get(f"{query}/api/logs/{big['id']}").json()  # the payload read back from the emulator
    assert "x" * 1000 in json.dumps(big_detail["payload"])
    summary = me.get(query + "/api/metrics/summary", params={"group_by": "model"}).json()
    assert summary["total"]["requests"] >= 3 and summary["total"]["latency_ms"]["p95"] is not None

    # A script's personal read token reads the logs (through the web origin); a provider key saved
    # through the settings API. Both are secrets of the run (see the last test).
    created = me.post(web + "/api/keys", json={"kind": "read", "name": "make up e2e"})
    assert created.status_code == 201, created.text
    token = created.json()["token"]
    stack.secrets[token] = "the read token"
    by_token = httpx.get(web + "/api/logs", params={"conversation_id": conversation},
                         headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    assert by_token.status_code == 200 and by_token.json()["items"] == logs, by_token.text
    provider_key = "sk-make-up-e2e-" + uuid.uuid4().hex
    stack.secrets[provider_key] = "the provider key"
    saved = me.put(web + "/api/settings/providers/openai", json={"api_key": provider_key})
    assert saved.status_code == 200 and saved.json()["key_last4"] == provider_key[-4:], saved.text
    assert me.delete(web + "/api/settings/providers/openai").status_code in (200, 204)

    # The web UI: one origin, whose config.json points at itself and which forwards /api/... to the
    # functions on these ports; the chat API still allows its origin for direct calls.
    assert "<html" in httpx.get(web + "/").text
    config = httpx.get(web + "/config.json").json()
    assert config["chatApiUrl"] == "" and config["queryApiUrl"] == ""
    assert me.get(web + "/api/models").json() == me.get(chat + "/api/models").json()
    assert me.get(web + "/api/logs", params={"conversation_id": conversation}).json()["items"] == logs
    origin = f"http://localhost:{stack.port('web')}"
    models = me.get(chat + "/api/models", headers={"Origin": origin})
    assert models.headers.get("access-control-allow-origin") == origin
    me.close()


def test_up_again_leaves_healthy_services_alone(stack: LocalStack) -> None:
    before = stack.pids()
    assert all(before.values()), before
    again = stack.dev("up")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "already running" not in again.stdout
    assert stack.pids() == before
    assert all(f"{name:<10} running (pid {pid})" in again.stdout for name, pid in before.items()), again.stdout


def test_the_supervisor_revives_a_killed_service_by_itself(stack: LocalStack) -> None:
    # GIVEN the running stack WHEN the writer is killed with SIGKILL
    before = stack.pids()
    restarts = stack.services()["writer"]["restarts"]
    killed_at = time.monotonic()
    os.kill(before["writer"], signal.SIGKILL)

    # THEN the supervisor starts it again by itself and records the restart
    def revived() -> dict[str, Any] | None:
        row = stack.services()["writer"]
        return row if row["state"] == "running" and row["pid"] not in (None, before["writer"]) else None

    row = wait_for(revived, "the writer restarted by the supervisor", timeout=30)
    latency = time.monotonic() - killed_at
    print(f"\nwriter restarted by the supervisor {latency:.2f}s after SIGKILL")
    assert row["restarts"] == restarts + 1 and row["last_exit_code"] == -signal.SIGKILL
    assert row["last_exit_at"] is not None
    assert {n: p for n, p in stack.pids().items() if n != "writer"} == {
        n: p for n, p in before.items() if n != "writer"
    }
    # ... and it works: a new event is written.
    fresh = event()
    stack.post_event(fresh)
    wait_for(lambda: stack.rows("SELECT 1 FROM inference_logs WHERE id = %s", fresh["id"]), "event after restart")


def test_make_up_revives_a_dead_service_and_leaves_the_others_alone(stack: LocalStack) -> None:
    # GIVEN the supervisor killed too (nothing restarts the query API by itself)
    before = stack.pids()
    supervisor = stack.status()["supervisor_pid"]
    os.kill(supervisor, signal.SIGKILL)
    wait_for(lambda: stack.status()["supervisor_pid"] is None, "the supervisor gone")
    os.kill(before["query"], signal.SIGKILL)
    wait_for(lambda: not is_alive(before["query"]), "the query API gone")
    rows = stack.services()
    assert rows["query"]["state"] == "dead" and rows["writer"]["state"] == "running (unsupervised)"

    # WHEN make up runs THEN the query API runs again, every other service keeps its pid
    up = stack.dev("up")
    assert up.returncode == 0, up.stdout + up.stderr
    after = stack.pids()
    assert after["query"] not in (None, before["query"])
    assert {n: p for n, p in after.items() if n != "query"} == {n: p for n, p in before.items() if n != "query"}
    assert stack.status()["supervisor_pid"] not in (None, supervisor)
    assert httpx.get(stack.url("query") + "/healthz").status_code == 200
    # The new supervisor adopted the others: it revives them too.
    os.kill(after["ingestion"], signal.SIGKILL)
    wait_for(
        lambda: (r := stack.services()["ingestion"])["state"] == "running" and r["pid"] != after["ingestion"],
        "an adopted service restarted by the new supervisor",
    )
    wait_for(lambda: httpx.get(stack.url("ingestion") + "/readyz").status_code == 200, "ingestion ready again")


def test_make_restart_writer_replaces_only_the_writer(stack: LocalStack) -> None:
    before = stack.services()
    out = stack.make("restart", "writer")
    assert out.returncode == 0, out.stdout + out.stderr
    after = stack.services()
    assert after["writer"]["pid"] not in (None, before["writer"]["pid"]) and after["writer"]["state"] == "running"
    assert f"restarted (pid {before['writer']['pid']} -> {after['writer']['pid']})" in out.stdout
    assert after["writer"]["restarts"] == before["writer"]["restarts"]  # deliberate: not a crash
    assert {n: r["pid"] for n, r in after.items() if n != "writer"} == {
        n: r["pid"] for n, r in before.items() if n != "writer"
    }
    fresh = event()
    stack.post_event(fresh)
    wait_for(lambda: stack.rows("SELECT 1 FROM inference_logs WHERE id = %s", fresh["id"]), "event after restart")


def test_make_status_shows_services_and_pipeline_figures(stack: LocalStack) -> None:
    out = stack.make("status")
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("supervisor: running (pid ")
    for name, row in stack.services().items():
        line = next(line for line in lines if line.split()[:1] == [name])
        assert "running" in line and str(row["pid"]) in line, line
    assert "SIGKILL at" in next(line for line in lines if line.split()[:1] == ["writer"])
    pipeline = next(i for i, line in enumerate(lines) if line.startswith("pipeline, from GET "))
    figures = lines[pipeline + 1]
    assert "lag " in figures and "pending " in figures and "dead letters " in figures, out.stdout
    assert stack.status()["pipeline"]["figures"]["dead_letters"] == 0


def test_down_stops_every_service_and_the_supervisor(stack: LocalStack) -> None:
    pids = stack.pids()
    supervisor = stack.status()["supervisor_pid"]
    down = stack.dev("down", timeout=120)
    assert down.returncode == 0, down.stdout + down.stderr
    assert all(f"{name:<10} stopped" in down.stdout for name in pids), down.stdout
    assert not any(is_alive(pid) for pid in [*pids.values(), supervisor])
    with pytest.raises(httpx.HTTPError):
        httpx.get(stack.url("ingestion") + "/healthz", timeout=2)
    rows = stack.services()
    assert {r["state"] for r in rows.values()} == {"stopped"}
    assert stack.status()["supervisor_pid"] is None


def test_no_secret_of_the_run_is_logged_or_echoed(stack: LocalStack) -> None:
    """Issue 11 §5, after the whole run (``down`` included): the admin's password, the session ids,
    the read token and the provider key are in no log of ``.prism/logs`` and in no response the
    test read, but the one that created the read token (it shows it once)."""
    assert {"the admin's password", "a session id", "the read token", "the provider key"} <= set(
        stack.secrets.values()
    ), stack.secrets.values()
    log_dir = Path(stack.env["PRISM_STATE_DIR"]) / "logs"
    logs = sorted(p for p in log_dir.rglob("*") if p.is_file())
    assert logs, f"no logs in {log_dir}"
    leaked = [
        f"{what} in {path.name}"
        for path in logs
        for secret, what in stack.secrets.items()
        if secret in path.read_text(errors="replace")
    ]
    for response in stack.seen:
        try:
            body = response.text
        except httpx.ResponseNotRead:
            continue
        request = response.request
        shown_once = request.method == "POST" and request.url.path == "/api/keys"
        leaked += [
            f"{what} in the response to {request.method} {request.url.path}"
            for secret, what in stack.secrets.items()
            if secret in str(request.url) + body and not (shown_once and what == "the read token")
        ]
    assert not leaked, "secrets leaked:\n" + "\n".join(leaked)
