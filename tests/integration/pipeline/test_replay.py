"""``python -m writer.replay`` on the local Redis bus: the consumer's dead-letter stream
(``<stream>:dead``, as ``RedisStreamsReader.dead_letter`` writes it) and the Kinesis handler's file
letters are fed back through the writer into PostgreSQL, each letter removed after its commit; a
second run adds nothing; the database down stops the run with the letters kept."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
import redis
from prism.adapters.files import FileDeadLetters
from prism.adapters.memory import MemoryBus, MemoryRawPayloadStore
from prism.adapters.redis_streams import RedisStreamsReader
from prism.config import get_settings
from prism.ingest import Ingestor
from prism.ports import BusMessage, DeadLetter
from prism.redact import RegexRedactor
from writer.replay import main

from tests.integration.pipeline.conftest import make_event

NOW = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)


def records(n: int) -> list[bytes]:
    bus = MemoryBus()
    Ingestor(bus, RegexRedactor(), MemoryRawPayloadStore()).ingest([make_event() for _ in range(n)])
    return [data for _, data in bus.messages]


def count(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM inference_logs").fetchone()
    return int(row[0]) if row else -1


@pytest.fixture
def settings_env(
    clean_database: str, redis_url: str, stream_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    env = {
        "PRISM_DATABASE_URL": clean_database,
        "PRISM_BUS": "redis",
        "PRISM_REDIS_URL": redis_url,
        "PRISM_STREAM": stream_name,
        "PRISM_RAW_STORE": "file",
        "PRISM_RAW_DIR": str(tmp_path / "raw"),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    yield env
    get_settings.cache_clear()


def test_replay_writes_both_kinds_of_letters_once(
    settings_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    first, second, third = records(3)
    reader = RedisStreamsReader(settings_env["PRISM_REDIS_URL"], settings_env["PRISM_STREAM"], "writers", "c1")
    failed = [(BusMessage("1-0:0", first), "StoreError: partition missing"), (BusMessage("1-0:1", b"\x00"), "bad")]
    reader.dead_letter(failed, [])
    letters = FileDeadLetters(Path(settings_env["PRISM_RAW_DIR"]) / "dead-letters")
    letters.put(DeadLetter(id="4960", data=base64.b64encode(second).decode(), reason="fixed since", at=NOW))
    letters.put(DeadLetter(id="4961", data=base64.b64encode(third).decode(), reason="fixed since", at=NOW))

    assert main([]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["FileDeadLetters"]["replayed"] == 2 and out["FileDeadLetters"]["written"] == 2
    assert out["RedisDeadLetters"]["replayed"] == 1 and out["RedisDeadLetters"]["still_failing"] == 1
    assert count(settings_env["PRISM_DATABASE_URL"]) == 3
    dead = redis.Redis.from_url(settings_env["PRISM_REDIS_URL"]).xrange(settings_env["PRISM_STREAM"] + ":dead")
    assert [fields[b"reason"] for _, fields in dead] == [b"bad"]  # only the poison one is kept
    assert letters.letters() == []

    assert main([]) == 0  # again: nothing new
    out = json.loads(capsys.readouterr().out)
    assert out["RedisDeadLetters"]["written"] == 0 and out["FileDeadLetters"]["replayed"] == 0
    assert count(settings_env["PRISM_DATABASE_URL"]) == 3


def test_the_database_down_stops_the_replay_and_keeps_the_letters(
    settings_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    letters = FileDeadLetters(Path(settings_env["PRISM_RAW_DIR"]) / "dead-letters")
    letters.put(DeadLetter(id="4960", data=base64.b64encode(records(1)[0]).decode(), reason="why", at=NOW))
    monkeypatch.setenv("PRISM_DATABASE_URL", "postgresql://postgres@127.0.0.1:1/prism")  # nothing listens there
    get_settings.cache_clear()
    assert main([]) == 1
    assert len(letters.letters()) == 1
