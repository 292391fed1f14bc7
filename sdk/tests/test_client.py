"""Shipping: batching, retries, 4xx, counters, flush/shutdown, the queue bound, the spool."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import random
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

import prism_sdk
import pytest
from prism_sdk._config import MAX_REQUEST_BYTES, ConfigError, Settings
from prism_sdk._delivery import backoff_delay
from prism_sdk._transport import parse_retry_after
from sdk_support import FakeIngest, validate

pytestmark = pytest.mark.unit
HERE = Path(__file__).resolve().parent


def event(**kw: Any) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "ts_start": "2026-11-27T07:00:00.000000Z",
        "ts_end": "2026-11-27T07:00:01.000000Z",
        "provider": "openai",
        "model": "gpt-4o-mini",
        "status": "ok",
        **kw,
    }


def make(ingest: FakeIngest, **kw: Any) -> prism_sdk.Prism:
    opts: dict[str, Any] = {
        "ingest_url": ingest.url,
        "api_key": "k",
        "flush_interval": 0.05,
        "max_backoff": 0.2,
    }
    opts.update(kw)
    return prism_sdk.Prism(**opts)


def wait_for(cond: Any, timeout: float = 60.0) -> None:  # the timeout: a hang guard
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def test_batches_respect_size_and_hand_made_events_are_completed(ingest) -> None:
    c = make(ingest, batch_size=10)
    for _ in range(35):
        c.log({"ts_start": "2026-11-27T07:00:00Z", "provider": "openai", "model": "m", "status": "ok"})
    assert c.flush(5)
    assert len(ingest.events) == 35
    assert max(r["n"] for r in ingest.requests) <= 10
    for e in ingest.events:
        validate(e)
        assert e["schema_version"] == 1 and e["sdk"].startswith("prism-sdk/")
    assert c.stats().sent == 35
    c.shutdown()


def test_retry_after_503_and_429_then_delivered_once(ingest) -> None:
    ingest.script.extend(
        [(503, {"error": {"code": "x", "message": "busy"}}, {}), (429, {}, {"Retry-After": "0"})]
    )
    c = make(ingest)
    evs = [event() for _ in range(3)]
    for e in evs:
        c.log(e)
    assert c.flush(10)
    assert sorted(ingest.ids()) == sorted(e["id"] for e in evs)
    s = c.stats()
    assert s.sent == 3 and s.retried == 6 and s.dropped_total == 0
    assert len(ingest.requests) == 3
    c.shutdown()


def test_retry_after_header_is_honoured(ingest) -> None:
    ingest.script.append((429, {}, {"Retry-After": "1"}))
    c = make(ingest)
    t0 = time.monotonic()
    c.log(event())
    assert c.flush(10)
    assert time.monotonic() - t0 >= 0.9
    c.shutdown()


def test_client_error_is_not_retried_and_is_logged_once(ingest, caplog) -> None:
    import prism_sdk._log as sdk_log

    sdk_log._warned.discard("reject-401")
    ingest.script.extend([(401, {"error": {"code": "unauthorized", "message": "bad key"}}, {})] * 2)
    c = make(ingest)
    c.log(event())
    assert c.flush(5)
    c.log(event())
    assert c.flush(5)
    assert len(ingest.requests) == 2  # one request per batch: no retry
    assert c.stats().dropped == {"http_401": 2}
    msgs = [r.getMessage() for r in caplog.records if r.levelname == "WARNING" and "401" in r.getMessage()]
    assert len(msgs) == 1 and "bad key" in msgs[0]
    c.shutdown()


def test_per_event_rejections_are_counted_not_retried(ingest) -> None:
    bad = event()
    ingest.reject_ids.add(bad["id"])
    c = make(ingest)
    c.log(bad)
    c.log(event())
    assert c.flush(5)
    s = c.stats()
    assert s.sent == 1 and s.dropped == {"rejected": 1} and len(ingest.requests) == 1
    c.shutdown()


def test_log_never_raises_and_bad_events_are_counted(ingest) -> None:
    c = make(ingest)

    class Boom:
        def build(self) -> dict[str, Any]:
            raise ValueError("boom")

    c.log(Boom())  # type: ignore[arg-type]
    c.log(event(metadata={"obj": object()}))  # not JSON: stringified
    assert c.flush(5)
    assert c.stats().dropped == {"invalid": 1} and c.stats().sent == 1
    c.shutdown()


def test_queue_full_drops_are_counted_and_the_caller_never_waits_for_room(ingest) -> None:
    # GIVEN ingestion that is down (nothing listens) and a small queue, no spool
    ingest.stop()
    # (the background thread wakes once a minute and not for a full batch: nothing leaves the queue
    # during the burst, however slow the machine)
    c = make(ingest, max_queue=100, timeout=0.5, flush_interval=60, batch_size=500)
    # WHEN far more events than the queue holds are logged
    for _ in range(5000):
        c.log(event())
    # THEN the overflow is dropped and counted: log() did not wait for room (nothing would have made
    # any while ingestion is down). What a log() costs is measured by bench/sdk_bench.py, not here.
    s = c.stats()
    assert s.dropped == {"queue_full": 4900} and s.queued == 100 and s.sent == 0, s
    c.shutdown(timeout=0.5)
    assert c.stats().dropped.get("shutdown", 0) > 0


def test_ingestion_down_then_back_delivers_everything(ingest) -> None:
    port = int(ingest.url.rsplit(":", 1)[1])
    ingest.stop()
    c = make(ingest, timeout=0.5)
    evs = [event() for _ in range(20)]
    for e in evs:
        c.log(e)
    assert c.stats().sent == 0  # log() returned without waiting for a delivery
    wait_for(lambda: c.stats().retried > 0)
    back = FakeIngest(port).start()
    try:
        assert c.flush(10)
        assert sorted(back.ids()) == sorted(e["id"] for e in evs)
    finally:
        c.shutdown()
        back.stop()


def test_spool_keeps_events_while_down_and_replays_when_back(ingest, tmp_path) -> None:
    port = int(ingest.url.rsplit(":", 1)[1])
    ingest.stop()
    c = make(ingest, spool_dir=str(tmp_path), timeout=0.5)
    evs = [event() for _ in range(50)]
    for e in evs:
        c.log(e)
    # flush reports that nothing was delivered, as soon as everything is on disk: it does not wait out
    # its timeout on retries (half of it: far above the milliseconds it takes, whatever the load)
    t0 = time.perf_counter()
    assert not c.flush(30)
    assert time.perf_counter() - t0 < 15
    s = c.stats()
    assert s.spooled == 50 and s.spool_pending == 50 and s.queued == 0 and s.failures >= 1
    assert s.failing and "ConnectionRefusedError" in s.last_error and s.spool_oldest_at is not None
    assert list(tmp_path.glob("*.jsonl"))
    back = FakeIngest(port).start()
    try:
        wait_for(lambda: len(back.events) == 50)
        assert sorted(back.ids()) == sorted(e["id"] for e in evs)
        wait_for(lambda: not list(tmp_path.glob("*.jsonl*")))
        s = c.stats()
        assert s.replayed == 50 and s.spool_pending == 0 and not s.failing and c.flush(1)
    finally:
        c.shutdown()
        back.stop()


def test_burst_with_spool_loses_nothing(ingest, tmp_path) -> None:
    c = make(ingest, spool_dir=str(tmp_path), max_queue=10, batch_size=500)
    n = 20_000
    ids = []
    for _ in range(n):
        e = event()
        ids.append(e["id"])
        c.log(e)
    wait_for(lambda: len(ingest.events) == n, timeout=60)
    assert sorted(ingest.ids()) == sorted(ids)
    s = c.stats()
    assert s.dropped_total == 0 and s.spooled > 0
    c.shutdown()


def test_spool_is_bounded_oldest_first(ingest, tmp_path) -> None:
    ingest.stop()
    c = make(ingest, spool_dir=str(tmp_path), spool_max_bytes=20_000, timeout=0.3, batch_size=10)
    for _ in range(10):
        for _ in range(10):
            c.log(event(metadata={"pad": "x" * 200}))
        c.flush(5)
        time.sleep(0.02)
    time.sleep(1.2)
    c.flush(5)
    c.shutdown(timeout=1)
    s = c.stats()
    assert s.dropped.get("spool_full", 0) > 0
    assert sum(f.stat().st_size for f in tmp_path.glob("*.jsonl*")) <= 20_000 + 10 * 400


def test_process_killed_with_sigkill_is_replayed_by_the_next_one_once(ingest, tmp_path) -> None:
    # GIVEN ingestion down and a child process that logs events with a spool, then is SIGKILLed
    port = int(ingest.url.rsplit(":", 1)[1])
    ingest.stop()
    child = textwrap.dedent(
        f"""
        import sys, time, uuid
        import prism_sdk
        c = prism_sdk.Prism(ingest_url="http://127.0.0.1:{port}", spool_dir={str(tmp_path)!r},
                            flush_interval=0.05, timeout=0.5)
        for i in range(30):
            c.log({{"id": str(uuid.uuid4()), "ts_start": "2026-11-27T07:00:00Z", "provider": "p",
                    "model": "m", "status": "ok"}})
        while c.stats().spooled < 30:
            time.sleep(0.01)
        print("ready", flush=True)
        time.sleep(60)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    finally:
        proc.kill()
        proc.wait()
    # WHEN ingestion is back and a new process starts with the same spool
    back = FakeIngest(port).start()
    try:
        c = make(back, spool_dir=str(tmp_path))
        wait_for(lambda: len(back.events) == 30)
        time.sleep(0.3)
        # THEN every event arrived exactly once
        assert len(back.ids()) == len(set(back.ids())) == 30
        assert sum(r["n"] for r in back.requests) == 30
        c.shutdown()
    finally:
        back.stop()


def test_queue_overflow_goes_to_the_spool_before_sigkill(ingest, tmp_path) -> None:
    ingest.stop()
    c = make(ingest, spool_dir=str(tmp_path), max_queue=10, timeout=0.3)
    ids = set()
    for _ in range(200):
        e = event()
        ids.add(e["id"])
        c.log(e)
    s = c.stats()
    assert s.dropped_total == 0 and s.spooled > 0  # log() itself appended the overflow to the spool
    assert list(tmp_path.glob("*.jsonl.open"))
    # every event is on disk (overflow file, or written ahead by the spool thread) with no flush
    wait_for(lambda: spooled_ids(tmp_path) >= ids)
    c.shutdown(timeout=1)


def spooled_ids(directory: Path) -> set[str]:
    out = set()
    for f in directory.glob("*.jsonl*"):
        with contextlib.suppress(FileNotFoundError):
            out.update(json.loads(line)["id"] for line in f.read_bytes().splitlines() if line.endswith(b"}"))
    return out


def test_flush_without_url_is_a_noop_and_settings_precedence(monkeypatch) -> None:
    monkeypatch.setenv("PRISM_BATCH_SIZE", "42")
    monkeypatch.setenv("PRISM_INGEST_URL", "http://127.0.0.1:9")
    s = Settings.resolve(batch_size=None, max_queue=7)
    assert (s.batch_size, s.max_queue, s.ingest_url) == (42, 7, "http://127.0.0.1:9")
    assert Settings.resolve(batch_size=3).batch_size == 3
    monkeypatch.setenv("PRISM_BATCH_SIZE", "900")
    with pytest.raises(ConfigError):
        Settings.resolve()
    with pytest.raises(ConfigError):
        prism_sdk.Prism()  # an explicit client fails fast
    monkeypatch.setattr(prism_sdk, "_default", None)
    assert not prism_sdk.get_client().active  # the lazy default client degrades to a no-op instead
    monkeypatch.delenv("PRISM_BATCH_SIZE")
    c = prism_sdk.Prism(enabled=False)
    c.log(event())
    assert c.flush(0.1) and c.stats().queued == 0


def test_retry_after_parsing() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert parse_retry_after("garbage") is None


def test_lambda_handler_flushes_each_invocation(ingest) -> None:
    c = prism_sdk.init(ingest_url=ingest.url, flush_interval=60)  # the interval would never fire

    class Ctx:
        def get_remaining_time_in_millis(self) -> int:
            return 3000

    @prism_sdk.lambda_handler
    def handler(evt: dict[str, Any], context: Any) -> str:
        prism_sdk.log(event())
        return "done"

    try:
        assert handler({}, Ctx()) == "done"
        assert len(ingest.events) == 1  # delivered before the invocation returned
    finally:
        c.shutdown()
        prism_sdk.init(enabled=False)


def test_llm_call_context_manager_and_decorator(ingest) -> None:
    import litellm  # noqa: F401 - loaded: its price map prices the call (the SDK never imports it for this)

    c = prism_sdk.init(ingest_url=ingest.url, flush_interval=0.05)
    try:
        with prism_sdk.llm_call(
            provider="openai", model="gpt-4o-mini", messages=[{"role": "user", "content": "q"}]
        ) as call:
            time.sleep(0.01)
            call.first_token()
            call.set_output("answer", finish_reason="stop")
            call.set_usage(10, 5)

        @prism_sdk.llm_call(provider="local", model="llama-x", prism={"tags": ["deco"]})
        def answer() -> str:
            return "hi"

        assert answer() == "hi"
        with pytest.raises(RuntimeError), prism_sdk.llm_call(provider="local", model="llama-x"):
            raise RuntimeError("down")
        assert c.flush(5)
        e1, e2, e3 = ingest.events
        for e in (e1, e2, e3):
            validate(e)
        assert e1["response"]["content"] == "answer" and e1["usage"]["total_tokens"] == 15
        assert e1["cost_usd"] > 0 and e1["ts_first_token"] is not None
        assert e2["response"]["content"] == "hi" and e2["tags"] == ["deco"]
        assert e2["cost_usd"] is None and e2["cost_note"]
        assert e3["status"] == "error" and e3["error"]["type"] == "RuntimeError"
    finally:
        c.shutdown()
        prism_sdk.init(enabled=False)


def test_readme_quickstart_runs(ingest, fake) -> None:
    # GIVEN the README's quickstart, verbatim, with OpenAI pointed at the fake server
    readme = (HERE.parent / "README.md").read_text()
    code = readme.split("## Quickstart", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    env = {
        **os.environ,
        "PRISM_INGEST_URL": ingest.url,
        "PRISM_API_KEY": "k",
        "OPENAI_API_KEY": "x",
        "OPENAI_BASE_URL": fake.base_url,
        "OPENAI_API_BASE": fake.base_url,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    }
    # WHEN it runs in a fresh process
    # (600 s: a hang guard; a fresh process imports LiteLLM, ~40 s on a loaded 2-core box)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    # THEN it prints the answer and its event reached the ingestion API
    assert out.returncode == 0, out.stderr
    assert "Hello from the fake model." in out.stdout
    assert len(ingest.events) == 1 and ingest.events[0]["status"] == "ok"


def test_sigkill_while_a_batch_is_in_flight_to_a_slow_server_is_replayed_once(tmp_path) -> None:
    # GIVEN ingestion that is up but slow: it reads each request and has not answered it yet
    slow = FakeIngest().start()
    slow.hold = True
    n = 50
    child = textwrap.dedent(
        f"""
        import json, time, uuid
        import prism_sdk
        c = prism_sdk.Prism(ingest_url={slow.url!r}, spool_dir={str(tmp_path)!r}, batch_size=10,
                            flush_interval=60, timeout=60)
        ids = [str(uuid.uuid4()) for _ in range({n})]
        for i in ids:
            c.log({{"id": i, "ts_start": "2026-11-27T07:00:00Z", "provider": "p", "model": "m", "status": "ok"}})
        while c._worker._queue:  # the in-memory window: until the background thread took every event
            time.sleep(0.001)
        print(json.dumps(ids), flush=True)
        time.sleep(60)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        ids = json.loads(proc.stdout.readline())
        # WHEN the process is SIGKILLed while a batch it took from the queue waits for its answer
        wait_for(lambda: slow.held)
    finally:
        proc.kill()
        proc.wait()
    slow.stop()
    assert slow.held and not slow.events  # taken from the queue and sent, never acknowledged
    # THEN the next process (ingestion healthy) delivers every event, exactly once
    back = FakeIngest().start()
    try:
        c = make(back, spool_dir=str(tmp_path))
        wait_for(lambda: len(back.events) == n)
        time.sleep(0.3)
        assert sorted(back.ids()) == sorted(ids)
        assert sum(r["n"] for r in back.requests) == n  # no event sent twice
        c.shutdown()
        assert not list(tmp_path.glob("*.jsonl*"))
    finally:
        back.stop()


@pytest.mark.parametrize("spool", [False, True], ids=["memory", "spool"])
def test_batches_are_capped_by_bytes(ingest, tmp_path, spool) -> None:
    # GIVEN large events: 40 of ~300 kB (12 MB in all) and a count cap that would allow them all
    c = make(ingest, batch_size=500, **({"spool_dir": str(tmp_path)} if spool else {}))
    evs = [event(metadata={"pad": "x" * 300_000}) for _ in range(40)]
    for e in evs:
        c.log(e)
    # WHEN they are sent
    assert c.flush(30)
    # THEN they went in several requests, each under the size cap, and each event once
    assert sorted(ingest.ids()) == sorted(e["id"] for e in evs)
    assert len(ingest.requests) >= 3
    assert all(len(r["raw"]) <= MAX_REQUEST_BYTES for r in ingest.requests)
    assert sum(r["n"] for r in ingest.requests) == 40
    c.shutdown()


def test_backoff_is_exponential_with_jitter() -> None:
    rnd = random.Random(7)
    delays = [backoff_delay(k, 30.0, rnd.uniform) for k in range(1, 8)]
    for k, d in enumerate(delays, 1):
        full = min(30.0, 0.25 * 2 ** (k - 1))
        assert full / 2 <= d <= full  # "equal jitter": a random point in the upper half
    assert delays == sorted(delays) and len(set(delays)) == len(delays)  # grow, and differ
    assert len({backoff_delay(3, 30.0, rnd.uniform) for _ in range(5)}) == 5  # same attempt: differ
    assert backoff_delay(40, 2.0, lambda a, b: b) == 2.0  # capped at max_backoff
    assert backoff_delay(40, 2.0, lambda a, b: a) == 1.0


def test_client_retries_on_the_backoff_schedule(ingest) -> None:
    # GIVEN a server that fails 3 times, and a client whose jitter source is recorded
    ingest.script.extend([(503, {}, {})] * 3)
    c = make(ingest, max_backoff=10.0)
    draws: list[tuple[float, float]] = []

    def upper(a: float, b: float) -> float:
        draws.append((a, b))
        return b

    c._worker._uniform = upper
    # WHEN an event is logged
    c.log(event())
    assert c.flush(10)
    # THEN the 3 retries waited 0.25 s, 0.5 s, 1 s (jitter drawn each time from a growing range)
    assert draws == [(0, 0.125), (0, 0.25), (0, 0.5)]
    t = [r["t"] for r in ingest.requests]
    gaps = [b - a for a, b in itertools.pairwise(t)]
    assert len(gaps) == 3 and gaps == sorted(gaps)
    for gap, expected in zip(gaps, (0.25, 0.5, 1.0), strict=True):
        assert gap >= expected - 0.01
    assert len(ingest.events) == 1
    c.shutdown()


def test_shutdown_with_ingestion_down_spools_the_queue_and_the_next_client_replays_it(ingest, tmp_path) -> None:
    # GIVEN ingestion down and events still in the in-memory queue (the background threads held off)
    port = int(ingest.url.rsplit(":", 1)[1])
    ingest.stop()
    c = make(ingest, spool_dir=str(tmp_path), timeout=0.3)
    c._worker.ensure_started = lambda: None  # type: ignore[method-assign]
    evs = [event() for _ in range(30)]
    for e in evs:
        c.log(e)
    assert c.stats().queued == 30
    # WHEN the client shuts down
    c.shutdown(timeout=0.3)
    # THEN the queue went to the spool
    s = c.stats()
    assert s.spooled == 30 and s.dropped_total == 0 and s.queued == 0
    assert spooled_ids(tmp_path) == {e["id"] for e in evs}
    assert not list(tmp_path.glob("*.open"))
    # AND the next client replays it, each event once
    back = FakeIngest(port).start()
    try:
        c2 = make(back, spool_dir=str(tmp_path))
        wait_for(lambda: c2.stats().replayed == 30)  # counted once the answer is read: after the fake stored them
        time.sleep(0.2)  # and nothing more is sent (a duplicate would be)
        assert sum(r["n"] for r in back.requests) == 30 and len(back.events) == 30
        c2.shutdown()
    finally:
        back.stop()


def test_process_exit_with_ingestion_down_spools_and_the_next_process_replays(ingest, tmp_path) -> None:
    # GIVEN ingestion down and a process that logs events and exits at once (atexit: the backstop)
    port = int(ingest.url.rsplit(":", 1)[1])
    ingest.stop()
    child = textwrap.dedent(
        f"""
        import json, uuid
        import prism_sdk
        c = prism_sdk.Prism(ingest_url="http://127.0.0.1:{port}", spool_dir={str(tmp_path)!r}, timeout=0.5)
        ids = [str(uuid.uuid4()) for _ in range(40)]
        for i in ids:
            c.log({{"id": i, "ts_start": "2026-11-27T07:00:00Z", "provider": "p", "model": "m", "status": "ok"}})
        print(json.dumps(ids))
        """
    )
    out = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    ids = set(json.loads(out.stdout))
    # THEN its events are in the spool
    assert spooled_ids(tmp_path) == ids
    # AND the next client replays them, each once
    back = FakeIngest(port).start()
    try:
        c = make(back, spool_dir=str(tmp_path))
        wait_for(lambda: len(back.events) == 40)
        time.sleep(0.2)
        assert set(back.ids()) == ids and sum(r["n"] for r in back.requests) == 40
        c.shutdown()
    finally:
        back.stop()


def test_event_ids_are_time_ordered_uuid7() -> None:
    import time
    import uuid

    from prism_sdk._event import uuid7

    first = uuid7()
    time.sleep(0.002)
    later = [uuid7() for _ in range(1000)]
    parsed = uuid.UUID(first)
    assert parsed.version == 7 and parsed.variant == uuid.RFC_4122
    assert all(first < x for x in later) and len(set(later)) == 1000
    assert abs((parsed.int >> 80) - time.time_ns() // 1_000_000) < 5_000


def test_an_api_key_list_sends_only_its_first_key(ingest, monkeypatch) -> None:
    # GIVEN PRISM_API_KEY holding two keys, as during a rotation (the ingestion API accepts either)
    monkeypatch.setenv("PRISM_API_KEY", " new-key , old-key")
    c = make(ingest, api_key=None)
    # WHEN an event is sent
    c.log(event())
    assert c.flush(5)
    # THEN its bearer token is the first key alone, also when the list is passed as an argument
    assert ingest.requests[-1]["headers"]["Authorization"] == "Bearer new-key"
    assert Settings.resolve(api_key="a,b").api_key == "a"
    c.shutdown()


def test_flush_with_ingestion_down_and_a_spool_returns_once_on_disk_without_waiting_on_retries(
    ingest, tmp_path
) -> None:
    # GIVEN nothing listening on the ingestion port, a client with a spool and one without
    port = int(ingest.url.rsplit(":", 1)[1])
    ingest.stop()
    # (a backoff long enough that "did not wait for the retry" is told apart from it on a loaded box)
    c = make(ingest, spool_dir=str(tmp_path), max_backoff=8)
    c._worker._uniform = lambda lo, hi: hi  # no jitter: after the next failure the client waits 8 s exactly
    c._worker._failures = 6  # as after six failed attempts
    bare = make(ingest, max_backoff=8)
    # WHEN an event is logged and flushed, as at the end of a Lambda invocation
    mine = [event(), event()]
    c.log(mine[0])
    bare_event = event()
    bare_id = bare_event["id"]
    bare.log(bare_event)
    t0 = time.perf_counter()
    delivered = c.flush(30)
    took = time.perf_counter() - t0
    # THEN the flush reports it undelivered as soon as the one attempt failed and it is on disk:
    # no retry was waited for (it comes 8 s after the failure; the flush's timeout is 30 s)
    assert not delivered and took < 3, took
    s = c.stats()
    assert s.retried == 1 and s.failures == 7 and s.spool_pending == 1 and s.queued == 0
    assert len(spooled_ids(tmp_path)) == 1
    # and a flush during the 8 s backoff returns without waiting for it and makes no attempt
    c.log(mine[1])
    t0 = time.perf_counter()
    assert not c.flush(30)
    assert time.perf_counter() - t0 < 3 and c.stats().retried == 1 and c.stats().spool_pending == 2
    # while without a spool the event can only wait in memory: the flush waits out its timeout
    t0 = time.perf_counter()
    assert not bare.flush(1.0)
    assert time.perf_counter() - t0 >= 0.9 and bare.stats().queued == 1
    # AND once the API is back, both events are replayed once (after the backoff) and a flush says
    # they were delivered
    back = FakeIngest(port).start()
    try:
        wait_for(lambda: c.flush(1), timeout=30)
        assert sorted(i for i in back.ids() if i != bare_id) == sorted(e["id"] for e in mine)
        assert c.stats().spool_pending == 0 and c.stats().replayed == 2
    finally:
        c.shutdown()
        bare.shutdown(timeout=0.5)
        back.stop()


BURST_CHILD = """
import os, sys
import prism_sdk
c = prism_sdk.Prism(ingest_url=sys.argv[1], spool_dir=sys.argv[2], api_key="k")
for i in range(int(sys.argv[3])):
    # call records are built and serialised by the spool thread: the heaviest case for it
    with prism_sdk.llm_call(provider="openai", model="gpt-4o-mini", client=c,
                            messages=[{"role": "user", "content": "x" * 400}]) as call:
        call.set_output("y" * 300, finish_reason="stop")
        call.set_usage(prompt_tokens=100, completion_tokens=50)
        call.set_cost(0.0001)
os._exit(0)  # no shutdown, no atexit: as a SIGKILL right after the burst
"""


def test_burst_then_exit_without_shutdown_loses_at_most_max_unspooled_events(ingest, tmp_path) -> None:
    # GIVEN a process that logs 3,000 calls as fast as it can, with a spool, then exits at once
    n = 3000
    out = subprocess.run(
        [sys.executable, "-c", BURST_CHILD, ingest.url, str(tmp_path), str(n)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    # WHEN the next process starts with the same spool
    c = make(ingest, spool_dir=str(tmp_path))
    try:
        assert c.flush(60)
        # THEN at most PRISM_MAX_UNSPOOLED (100) events were lost, none twice counted
        received = set(ingest.ids())
        assert len(received) >= n - 100, f"{n - len(received)} of {n} lost"
        assert c.stats().spool_pending == 0 and not list(tmp_path.glob("*.jsonl*"))
    finally:
        c.shutdown()
