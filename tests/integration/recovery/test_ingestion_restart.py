"""The ingestion API killed and started again under load: nothing accepted is lost or doubled."""

from __future__ import annotations

import time
from pathlib import Path

from tests.integration.recovery.conftest import assert_exactly_once, group_figures, stack_env
from tests.support.load import IngestLoad
from tests.support.servers import RedisServer
from tests.support.stack import Stack


def test_an_ingestion_kill_under_load_loses_nothing_and_doubles_nothing(
    database: str, redis_server: RedisServer, stream: str, tmp_path: Path
) -> None:
    # GIVEN the ingestion API and the writer, events flowing
    with Stack(database, redis_server.url, stream, env=stack_env(tmp_path)) as stack:
        load = IngestLoad(stack.ingest_url, stack.headers, batches=100, batch_size=20).start()
        load.wait_for_batches(25)
        # WHEN the ingestion API is killed (SIGKILL: requests in flight get no answer, some of them
        # already published) and started again on its port, as a supervisor would
        stack.stop("ingestion", kill=True)
        at_kill = load.accepted_batches
        stack.start_ingestion()
        load.join()
        # THEN the load, re-sending what got no answer, got every batch accepted ...
        assert not load.errors, load.errors[:3]
        assert 25 <= at_kill < 100 and load.accepted_batches == 100
        assert sum(load.retries.values()) > 0, "the load met the outage"
        # ... and every accepted event is stored once (a batch published twice, once before the kill
        # and once re-sent after it, is written once: the ids)
        assert_exactly_once(stack, load.accepted)
        deadline = time.monotonic() + 30
        while group_figures(redis_server.url, stream)["pending"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert group_figures(redis_server.url, stream) == {"pending": 0, "dead": 0}
        assert stack.procs["writer"].poll() is None
