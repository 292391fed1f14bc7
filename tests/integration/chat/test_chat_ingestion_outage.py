"""The chat's own events through an ingestion outage: the real chat (its default prism-sdk set-up,
spool included), the real ingestion API + writer + PostgreSQL (tests/support/stack.py), the offline
demo model. The ingestion API is stopped by the test and started again on the same port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from prism.identity.service import IdentityService

from tests.integration.chat.conftest import CREDS_KEY, chat_settings, read_sse
from tests.support.auth import Caller, Callers
from tests.support.net import ThreadServer, free_port
from tests.support.stack import Stack

DEMO = "demo/prism-demo"


@pytest.fixture
def stack(chat_db: str, redis_url: str, stream_name: str, aws_endpoint: str) -> Iterator[Stack]:
    with psycopg.connect(chat_db, autocommit=True) as conn:
        conn.execute("TRUNCATE inference_logs, tool_invocations, inference_event_ids")
    with Stack(chat_db, redis_url, stream_name, aws_endpoint) as running:
        yield running


@pytest.fixture
def sdk_env(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """What the chat's prism-sdk reads from the environment; the default client is reset after."""
    import prism_sdk

    monkeypatch.setenv("PRISM_INGEST_URL", stack.ingest_url)
    monkeypatch.setenv("PRISM_API_KEY", stack.api_key)
    monkeypatch.setenv("PRISM_MAX_BACKOFF", "0.5")
    monkeypatch.delenv("PRISM_SPOOL_DIR", raising=False)
    yield
    prism_sdk.get_client().shutdown(timeout=1)
    prism_sdk.init(enabled=False)


def turn(client: httpx.Client, cid: str, content: str) -> dict[str, Any]:
    """One demo turn; the `done` event's data, with when it arrived and when the response ended."""
    t0 = time.perf_counter()
    with client.stream("POST", f"/api/conversations/{cid}/messages", json={"content": content, "model": DEMO}) as resp:
        assert resp.status_code == 200, resp.read()
        done: dict[str, Any] | None = None
        for event, data in read_sse(resp.iter_lines()):
            if event == "done":
                done = dict(data, done_at=time.perf_counter() - t0)
            assert event != "error", data
    assert done is not None and done["status"] == "complete", done
    done["ended_at"] = time.perf_counter() - t0
    return done


def logged(database_url: str, cid: str) -> dict[str, list[str]]:
    """message_id -> the ids of the inference_logs rows of that message."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT message_id, id::text FROM inference_logs WHERE conversation_id = %s", (cid,)
        ).fetchall()
    out: dict[str, list[str]] = {}
    for message_id, event_id in rows:
        out.setdefault(message_id, []).append(event_id)
    return out


def eventually(check: Any, timeout: float = 60.0, interval: float = 0.05) -> Any:
    """Poll ``check()`` until it returns something truthy; the timeout is only a hang guard."""
    deadline = time.monotonic() + timeout
    while not (got := check()):
        assert time.monotonic() < deadline, "not reached in time"
        time.sleep(interval)
    return got


def wait_logged(database_url: str, cid: str, n: int, timeout: float = 60.0) -> dict[str, list[str]]:
    deadline = time.monotonic() + timeout
    while True:
        got = logged(database_url, cid)
        if sum(len(v) for v in got.values()) >= n or time.monotonic() > deadline:
            time.sleep(0.5)  # and nothing more arrives (a duplicate would)
            return logged(database_url, cid)
        time.sleep(0.1)


class ChatProcess:
    """``uvicorn chat.app:app``, the app built from the environment as ``make up`` runs it, in ``cwd``."""

    def __init__(self, env: dict[str, str], cwd: Path, caller: Caller) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = cwd / f"chat-{self.port}.log"
        argv = [sys.executable, "-m", "uvicorn", "chat.app:app", "--host", "127.0.0.1", "--port", str(self.port)]
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 300  # a hang guard (a loaded 2-core box takes ~40 s to import LiteLLM)
        while True:
            assert self.proc.poll() is None, self.log.read_text()
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, self.log.read_text()
            time.sleep(0.1)
        # a hang guard: the process's first turn imports LiteLLM, which takes ~40 s on a loaded box
        self.client = caller.on(httpx.Client(base_url=self.url, timeout=300))

    def kill(self) -> None:
        self.client.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)


def test_turns_during_an_ingestion_outage_are_logged_once_after_it_is_back_even_across_a_chat_crash(
    stack: Stack, chat_db: str, chat_identity: IdentityService, tmp_path: Path
) -> None:
    member = Callers(chat_identity).session("member")  # the same user on both processes (same database)
    # GIVEN the chat run as `make up` runs it (no PRISM_SPOOL_DIR: its default spool under .prism/)
    env = {
        **os.environ,
        "PRISM_ENV": "test",
        "PRISM_DATABASE_URL": chat_db,
        "PRISM_CREDS_KEY": CREDS_KEY,
        "PRISM_INGEST_URL": stack.ingest_url,
        "PRISM_API_KEY": stack.api_key,
        "PRISM_MAX_BACKOFF": "0.5",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_MODE": "PRODUCTION",
    }
    env.pop("PRISM_SPOOL_DIR", None)
    env.pop("AWS_LAMBDA_FUNCTION_NAME", None)
    first = ChatProcess(env, tmp_path, member)
    seconds: ChatProcess | None = None
    try:
        cid = first.client.post("/api/conversations", json={}).json()["id"]
        done = [turn(first.client, cid, "Before the outage")]
        assert wait_logged(chat_db, cid, 1) == {done[0]["message_id"]: [done[0]["inference_event_id"]]}
        assert first.client.get("/readyz").json()["status"] == "ready"

        # WHEN the ingestion API goes down and turns are made
        stack.stop("ingestion")
        done.append(turn(first.client, cid, "During the outage"))
        # THEN readiness says the chat's events are not delivered, and why (once the SDK's attempt
        # failed: at once, nothing listens), while the chat serves
        ready = eventually(lambda: (r := first.client.get("/readyz")).json()["status"] != "ready" and r)
        body = ready.json()
        assert ready.status_code == 200 and body["status"] == "degraded", body
        (reason,) = body["degraded"]
        assert "the ingestion API is unreachable" in reason and "Connection refused" in reason
        assert body["checks"] == {"database": "ok", "events": reason.removeprefix("events: ")}
        assert "1 event(s) wait in the spool" in reason and body["events"]["failures"] >= 1
        assert body["events"]["spool_pending"] + body["events"]["queued"] == 1
        strict = first.client.get("/readyz", params={"strict": "true"})
        assert strict.status_code == 503 and strict.json()["error"]["code"] == "events_degraded"
        done.append(turn(first.client, cid, "Still down"))
        # AND once both turns' events are on disk (the spool thread writes each as soon as it is
        # logged; a SIGKILL before that loses what is still in memory, by design), the chat crashes
        # (SIGKILL: nothing flushed) and is started again, still during the outage
        eventually(lambda: first.client.get("/readyz").json()["events"]["spool_pending"] == 2)
        first.kill()
        spool = tmp_path / ".prism" / "spool" / "chat"
        assert list(spool.glob("*.jsonl*")), "the turns made during the outage are on disk"
        seconds = ChatProcess(env, tmp_path, member)
        done.append(turn(seconds.client, cid, "After the restart"))
        assert logged(chat_db, cid).keys() == {done[0]["message_id"]}

        # WHEN the ingestion API is back
        stack.start_ingestion()
        # THEN every turn is logged exactly once, as the event id its reply carried
        got = wait_logged(chat_db, cid, len(done))
        assert got == {d["message_id"]: [d["inference_event_id"]] for d in done}, got
        # AND readiness is back to ready once the spool is empty
        body = eventually(lambda: (b := seconds.client.get("/readyz").json())["status"] == "ready" and b, interval=0.2)
        assert body["events"]["spool_pending"] == 0 and body["checks"]["events"] == "ok"
        assert not list(spool.glob("*.jsonl*"))
    finally:
        first.kill()
        if seconds is not None:
            seconds.kill()


@pytest.fixture
def lambda_chat(
    chat_db: str, chat_identity: IdentityService, sdk_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:
    """The chat as its streaming Lambda function runs it (uvicorn behind the Lambda Web Adapter: the
    app sees AWS_LAMBDA_FUNCTION_NAME and flushes prism-sdk after each reply), with its SDK set-up."""
    from chat.app import create_app

    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "prism-chat-stream")
    # a flush budget (the chat's default on Lambda is 1 s) that a loaded machine's ingestion API answers
    # well within, and that the bug guarded against (every reply held for the whole budget) stands out of
    monkeypatch.setenv("PRISM_LAMBDA_FLUSH_TIMEOUT", "10")
    settings = chat_settings(chat_db, spool_dir=str(tmp_path / "spool"))
    app = create_app(settings, configure_sdk=True, identity=chat_identity)
    member = Callers(chat_identity).session("member")
    with ThreadServer(app) as server, member.on(httpx.Client(base_url=server.url, timeout=300)) as client:
        yield client
    app.state.chat.store.close()
    if app.state.demo is not None:
        app.state.demo.stop()


def test_lambda_shape_turn_with_ingestion_down_spools_at_once_and_a_later_invocation_sends_it(
    stack: Stack, chat_db: str, lambda_chat: httpx.Client
) -> None:
    import prism_sdk

    client = prism_sdk.get_client()
    assert client.spool is not None and client.settings.lambda_flush_timeout == 10.0
    cid = lambda_chat.post("/api/conversations", json={}).json()["id"]
    # GIVEN turns while the ingestion API is up: the response ends once the reply's event is delivered
    turn(lambda_chat, cid, "warm up")  # LiteLLM's import and first call
    up = [turn(lambda_chat, cid, f"up {i}") for i in range(3)]
    assert client.stats().spool_pending == 0 and client.stats().sent == 4
    # WHEN the ingestion API is down (nothing listens on its port) and more turns are made
    stack.stop("ingestion")
    down = []
    for i in range(3):
        down.append(turn(lambda_chat, cid, f"down {i}"))
        # THEN each turn's event is in the spool by the time its response ended
        assert client.stats().spool_pending == i + 1
    # AND the flush after each reply spooled at once instead of waiting out its timeout on retries
    # (the bug this guards: every reply's response held for the whole flush timeout). Bounded by
    # that timeout, not by the up turns' timings, so a loaded machine cannot make it fail.
    after_done_down = [d["ended_at"] - d["done_at"] for d in down]
    assert max(after_done_down) < 0.8 * client.settings.lambda_flush_timeout, after_done_down
    body = lambda_chat.get("/readyz").json()
    assert body["status"] == "degraded" and "unreachable" in body["degraded"][0]
    # WHEN the API is back: a later invocation sends what was spooled, and its own event
    stack.start_ingestion()
    time.sleep(0.6)  # past the SDK's backoff (PRISM_MAX_BACKOFF=0.5); were it not, the replay comes later
    later = turn(lambda_chat, cid, "back")
    # THEN every turn is logged exactly once
    every = [*up, *down, later]
    got = wait_logged(chat_db, cid, len(every) + 1)
    assert len(got) == len(every) + 1 and all(len(ids) == 1 for ids in got.values()), got
    for d in every:
        assert got[d["message_id"]] == [d["inference_event_id"]]
    # (the SDK counts a replay once it has read the API's answer, which may come after the row is stored)
    eventually(lambda: client.stats().spool_pending == 0 and client.stats().replayed >= 3)


def test_readiness_names_an_api_key_the_ingestion_api_refuses(
    stack: Stack,
    chat_db: str,
    chat_identity: IdentityService,
    sdk_env: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from chat.app import create_app

    # GIVEN the chat with a key the ingestion API does not know
    monkeypatch.setenv("PRISM_API_KEY", "not-the-ingestion-key")
    app = create_app(
        chat_settings(chat_db, spool_dir=str(tmp_path / "spool")), configure_sdk=True, identity=chat_identity
    )
    member = Callers(chat_identity).session("member")
    with ThreadServer(app) as server, member.on(httpx.Client(base_url=server.url, timeout=300)) as client:
        cid = client.post("/api/conversations", json={}).json()["id"]
        # WHEN a turn is made
        turn(client, cid, "Hello")
        import prism_sdk

        prism_sdk.flush(60)  # returns once the refused batch is answered; 60 s is a hang guard
        # THEN the chat still answers, and readiness says its events are refused, and why
        resp = client.get("/readyz")
        body = resp.json()
        assert resp.status_code == 200 and body["status"] == "degraded", body
        assert "refuses the chat's events (HTTP 401" in body["degraded"][0], body
        assert body["events"]["dropped"] == {"http_401": 1}
    app.state.chat.store.close()
    if app.state.demo is not None:
        app.state.demo.stop()
