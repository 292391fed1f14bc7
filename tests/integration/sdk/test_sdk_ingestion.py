"""prism-sdk → the real ingestion function → PostgreSQL, with LiteLLM's real HTTP path to a fake provider."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import prism_sdk
import psycopg
import pytest

from tests.support.fake_openai import Behaviour, FakeOpenAI
from tests.support.stack import Stack

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]
MSGS = [{"role": "user", "content": "Say hello"}]


def kw(fake: FakeOpenAI, **extra: Any) -> dict[str, Any]:
    return {
        "model": "openai/gpt-4o-mini",
        "api_base": fake.base_url,
        "api_key": "x",
        "messages": MSGS,
        **extra,
    }


def wall(rfc3339: str) -> float:
    return dt.datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp()


def rows(stack: Stack, where: str = "TRUE", params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    with psycopg.connect(stack.database_url) as conn:
        cur = conn.execute(f"SELECT * FROM inference_logs WHERE {where} ORDER BY ts_start", params)  # noqa: S608
        names = [d.name for d in cur.description or ()]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


@pytest.fixture
def sdk(stack: Stack) -> Any:
    client = prism_sdk.init(
        ingest_url=stack.ingest_url, api_key=stack.api_key, flush_interval=0.05, timeout=2
    )
    yield client
    client.shutdown(timeout=2)
    prism_sdk.init(enabled=False)


def test_streamed_call_lands_with_ttft_and_latency_of_the_provider(
    stack: Stack, sdk: Any, fake: FakeOpenAI
) -> None:
    # GIVEN a provider whose first token comes after 300 ms and the whole answer after 450 ms
    fake.behaviour = Behaviour(
        chunks=["Hel", "lo", " there", "!"], first_token_delay=0.3, inter_token_delay=0.05
    )

    seen: dict[str, float] = {}

    async def run() -> Any:
        stream = await prism_sdk.acompletion(**kw(fake), stream=True, prism={"conversation_id": "c-int"})
        async for c in stream:
            if c.choices and c.choices[0].delta.content:
                seen.setdefault("first", time.time())
        seen["end"] = time.time()
        return stream

    # WHEN the wrapped call streams to the end, the caller noting when it got the first token and the end
    stream = asyncio.run(run())
    assert sdk.flush(10)
    stack.wait_for_rows(1)
    (row,) = rows(stack)
    # THEN the stored row has the provider's timings, usage and cost
    assert row["id"].hex == prism_sdk.event_of(stream)["id"].replace("-", "")
    assert row["status"] == "ok" and row["provider"] == "openai" and row["model"] == "gpt-4o-mini"
    # the event's first token and end are stamped no sooner after its start than the provider waited
    # before sending them (the role chunk came at once) and no later than the caller got them: bounds
    # that hold however loaded the machine (the lag itself: bench/sdk_bench.py, docs/performance.md)
    ev = prism_sdk.event_of(stream)
    start, first, end = wall(ev["ts_start"]), wall(ev["ts_first_token"]), wall(ev["ts_end"])
    rounding = 1e-5  # RFC 3339 microseconds
    assert 0.3 - rounding <= first - start and first <= seen["first"] + rounding, (start, first, seen)
    assert 0.3 + 3 * 0.05 - rounding <= end - start and end <= seen["end"] + rounding, (start, end, seen)
    # and the stored row's TTFT and latency are the event's
    ttft = wall(ev["ts_first_token"]) - wall(ev["ts_start"])
    assert row["ttft_ms"] == pytest.approx(ttft * 1000, abs=1.5)
    assert row["latency_ms"] == pytest.approx((wall(ev["ts_end"]) - wall(ev["ts_start"])) * 1000, abs=1.5)
    assert row["completion_tokens"] == 4 and row["total_tokens"] > 4
    assert row["cost_usd"] > 0 and row["cost_note"] is None
    assert row["conversation_id"] == "c-int" and row["sdk"].startswith("prism-sdk/")


def test_cancelled_stream_and_provider_error_land_with_their_status(
    stack: Stack, sdk: Any, fake: FakeOpenAI
) -> None:
    import litellm

    fake.behaviour = Behaviour(chunks=["part", "ial", "never"], inter_token_delay=0.3)

    async def cancel() -> Any:
        stream = await prism_sdk.acompletion(**kw(fake), stream=True)
        async for c in stream:
            if c.choices[0].delta.content:
                break
        await stream.aclose()
        return stream

    stream = asyncio.run(cancel())
    assert prism_sdk.event_of(stream)["response"]["content"] == "part"
    fake.behaviour = Behaviour(error_status=500, error_body={"error": {"message": "upstream exploded"}})
    with pytest.raises(litellm.InternalServerError):
        prism_sdk.completion(**kw(fake), num_retries=0, max_retries=0)
    assert sdk.flush(10)
    stack.wait_for_rows(2)
    by_status = {r["status"]: r for r in rows(stack)}
    assert set(by_status) == {"cancelled", "error"}
    cancelled = by_status["cancelled"]
    assert cancelled["cost_usd"] is None and "cancelled" in cancelled["cost_note"]
    # the partial output is stored with the row (payloads are not offloaded to S3 in this stack)
    assert cancelled["raw_payload_jsonb"]["response"]["content"] == "part"
    with psycopg.connect(stack.database_url) as conn:
        stored = conn.execute(
            "SELECT status, raw_payload_jsonb->'response'->>'content' FROM inference_logs WHERE id = %s",
            (cancelled["id"],),
        ).fetchone()
    assert stored == ("cancelled", "part")
    assert by_status["error"]["error_type"] == "InternalServerError"
    assert "upstream exploded" in by_status["error"]["error_message"]


def test_sync_stream_dropped_after_break_lands_as_cancelled_with_its_partial_output(
    stack: Stack, sdk: Any, fake: FakeOpenAI
) -> None:
    # GIVEN a slow stream that the caller breaks out of after two content chunks and just drops
    fake.behaviour = Behaviour(chunks=["Once", " upon", " a", " time"], inter_token_delay=0.2)
    stream = prism_sdk.completion(**kw(fake), stream=True, prism={"conversation_id": "c-drop"})
    got = []
    for c in stream:
        if c.choices[0].delta.content:
            got.append(c.choices[0].delta.content)
        if len(got) == 2:
            break
    del stream, c  # no close(), no with-block
    # THEN the stored row is cancelled, with the partial output in its payload
    assert sdk.flush(10)
    stack.wait_for_rows(1)
    with psycopg.connect(stack.database_url) as conn:
        stored = conn.execute(
            "SELECT status, raw_payload_jsonb->'response'->>'content', conversation_id FROM inference_logs"
        ).fetchall()
    assert stored == [("cancelled", "Once upon", "c-drop")]


def test_ingestion_down_costs_the_caller_nothing_and_events_arrive_when_back(
    stack: Stack, sdk: Any, fake: FakeOpenAI
) -> None:
    # GIVEN the ingestion API is down
    stack.stop("ingestion")

    # WHEN wrapped calls are made
    n = 25
    answers = [prism_sdk.completion(**kw(fake)).choices[0].message.content for _ in range(n)]
    # THEN the caller sees no exception and gets every answer, returned before its event was delivered
    # (what a call costs the caller with ingestion down: bench/sdk_bench.py, docs/performance.md)
    assert all(answers) and sdk.stats().sent == 0
    deadline = time.monotonic() + 30  # a hang guard: the first attempt fails at once
    while sdk.stats().retried == 0:
        assert time.monotonic() < deadline, sdk.stats()
        time.sleep(0.02)
    assert sdk.stats().sent == 0
    # AND once ingestion is back every event arrives, once
    stack.start_ingestion()
    assert sdk.flush(30)
    stack.wait_for_rows(n)
    time.sleep(0.5)
    assert len(rows(stack)) == n


def test_sigkilled_process_events_are_delivered_by_the_next_process_once(
    stack: Stack, tmp_path: Path
) -> None:
    # GIVEN ingestion down, and a process that logs 40 events with a spool and is then SIGKILLed
    stack.stop("ingestion")
    spool = str(tmp_path / "spool")
    env = {
        **os.environ,
        "PRISM_INGEST_URL": stack.ingest_url,
        "PRISM_API_KEY": stack.api_key,
        "PRISM_SPOOL_DIR": spool,
        "PRISM_FLUSH_INTERVAL": "0.05",
        "PRISM_TIMEOUT": "1",
    }
    child = textwrap.dedent(
        """
        import time
        import prism_sdk
        for i in range(40):
            with prism_sdk.llm_call(provider="openai", model="gpt-4o-mini") as call:
                call.set_output(f"answer {i}")
                call.set_usage(10, 2)
                call.set_cost(0.0001)
        while prism_sdk.stats().spooled < 40:
            time.sleep(0.01)
        print("spooled", flush=True)
        time.sleep(60)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", child], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "spooled"
    finally:
        proc.kill()
        proc.wait()
    # WHEN ingestion is back and the next process starts with the same spool directory
    stack.start_ingestion()
    nxt = textwrap.dedent(
        """
        import prism_sdk
        c = prism_sdk.get_client()
        import time
        deadline = time.time() + 30
        while c.stats().replayed < 40 and time.time() < deadline:
            time.sleep(0.05)
        print(c.stats().replayed, flush=True)
        """
    )
    out = subprocess.run([sys.executable, "-c", nxt], env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "40", out.stderr
    # THEN all 40 are stored, each once
    stack.wait_for_rows(40)
    time.sleep(0.5)
    stored = rows(stack)
    assert len(stored) == len({r["id"] for r in stored}) == 40
    assert not list(Path(spool).glob("*.jsonl*"))


def test_queue_full_drops_are_counted_and_the_caller_is_unaffected(stack: Stack, fake: FakeOpenAI) -> None:
    stack.stop("ingestion")
    # (the background thread wakes once a minute and not for a full batch, so the queue holds what it
    # holds whatever the speed of the calls: without that, a slow box let it drain the queue between
    # calls and fewer were dropped)
    client = prism_sdk.init(
        ingest_url=stack.ingest_url, api_key=stack.api_key, max_queue=3, timeout=1, flush_interval=60
    )
    try:
        for _ in range(10):
            assert prism_sdk.completion(**kw(fake)).choices[0].message.content
        s = client.stats()
        assert s.dropped == {"queue_full": 7} and s.queued == 3 and s.sent == 0, s
    finally:
        client.shutdown(timeout=0.5)
        prism_sdk.init(enabled=False)


def log_calls(client: prism_sdk.Prism, n: int, tag: str) -> None:
    for i in range(n):
        with prism_sdk.llm_call(provider="openai", model="gpt-4o-mini", client=client, prism={"tags": [tag]}) as call:
            call.set_output(f"answer {i}")
            call.set_usage(10, 2)
            call.set_cost(0.0001)


def test_api_key_rotation_new_old_keeps_every_event_accepted(
    clean_database: str, redis_url: str, stream_name: str, aws_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the ingestion API and the SDK reading the same PRISM_API_KEY (one .env), the old key
    with Stack(clean_database, redis_url, stream_name, aws_endpoint, env={"PRISM_API_KEY": "key-old"}) as stack:

        def client(keys: str) -> prism_sdk.Prism:
            monkeypatch.setenv("PRISM_API_KEY", keys)
            return prism_sdk.Prism(ingest_url=stack.ingest_url, flush_interval=0.05, timeout=2)

        def restart_ingestion(keys: str) -> None:
            stack.stop("ingestion")
            stack.env["PRISM_API_KEY"] = keys
            stack.start_ingestion()

        before = client("key-old")
        log_calls(before, 5, "old")
        assert before.flush(10)
        # WHEN the key is rotated: the new one first (PRISM_API_KEY=new,old), both services restarted
        restart_ingestion("key-new,key-old")
        during = client("key-new,key-old")
        log_calls(during, 5, "rotating")
        assert during.flush(10)
        log_calls(before, 5, "old-still-running")  # a process not restarted yet, on the old key
        assert before.flush(10)
        # AND the old key is dropped from the ingestion API before the SDK's process is restarted
        restart_ingestion("key-new")
        log_calls(during, 5, "old-dropped")
        assert during.flush(10)
        # THEN every event was accepted by the real ingestion API and stored (none refused with a 401)
        for c in (before, during):
            s = c.stats()
            assert s.dropped == {} and not s.failing, s
            c.shutdown()
        stack.wait_for_rows(20)
        with psycopg.connect(stack.database_url) as conn:
            tags = dict(conn.execute("SELECT tags[1], count(*) FROM inference_logs GROUP BY 1").fetchall())
        assert tags == {"old": 5, "rotating": 5, "old-still-running": 5, "old-dropped": 5}


BURST_CHILD = """
import os
import prism_sdk
c = prism_sdk.get_client()
for i in range(3000):
    with prism_sdk.llm_call(provider="openai", model="gpt-4o-mini",
                            messages=[{"role": "user", "content": "x" * 400}]) as call:
        call.set_output("y" * 300, finish_reason="stop")
        call.set_usage(prompt_tokens=100, completion_tokens=50)
        call.set_cost(0.0001)
os._exit(0)  # no shutdown(), no atexit: as if killed right after the burst
"""


def test_burst_then_exit_without_shutdown_loses_at_most_max_unspooled_events(stack: Stack, tmp_path: Path) -> None:
    # GIVEN a process with a spool that makes 3,000 calls as fast as it can, then exits at once
    env = {
        **os.environ,
        "PRISM_INGEST_URL": stack.ingest_url,
        "PRISM_API_KEY": stack.api_key,
        "PRISM_SPOOL_DIR": str(tmp_path / "spool"),
    }
    env.pop("PRISM_MAX_UNSPOOLED", None)
    out = subprocess.run([sys.executable, "-c", BURST_CHILD], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    # WHEN the next process starts with the same spool and flushes
    nxt = "import prism_sdk; print(prism_sdk.flush(60), prism_sdk.stats().spool_pending)"
    done = subprocess.run([sys.executable, "-c", nxt], env=env, capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == ["True", "0"], done.stdout + done.stderr
    # THEN at most PRISM_MAX_UNSPOOLED (default 100) of the 3,000 were lost, and none stored twice
    stack.wait_for_rows(2900, timeout=60)
    time.sleep(1.0)
    stored = rows(stack)
    assert 2900 <= len(stored) <= 3000, f"{3000 - len(stored)} lost"
    assert len({r["id"] for r in stored}) == len(stored)
