"""Feed the dead letters back through the writer: ``python -m writer.replay`` (``make replay``;
in AWS, the maintenance function with ``{"replay": {}}``, docs/deploy.md). It reads the Kinesis
handler's letters (``dead-letters/`` in the raw payload bucket, or under ``PRISM_RAW_DIR``) and, on
the Redis bus, the consumer's dead-letter stream ``<stream>:dead``.

Every letter whose data decodes is written through ``RecordWriter`` (idempotent on event ids: a
record already written, or replayed twice, counts once) and its letter is removed only after the
batch committed. A record that still fails keeps its letter (the reason is logged); a letter
without readable data is left alone. The database down stops the replay with nothing removed
after the last commit (run it again later).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from prism.config import get_settings
from prism.errors import PrismError
from prism.logs import setup_logging
from prism.ports import BusMessage, DeadLetterStore
from prism.write import RecordWriter

log = logging.getLogger(__name__)


@dataclass
class ReplayResult:
    replayed: int = 0  # letters whose record is now in the store (letter removed)
    written: int = 0  # rows new to the store
    duplicates: int = 0  # rows the store already had
    still_failing: int = 0  # letters kept: the record still cannot be written
    unreadable: int = 0  # letters kept: no data, or not base64


def replay(letters: DeadLetterStore, writer: RecordWriter, *, batch: int = 500, limit: int = 100_000) -> ReplayResult:
    result = ReplayResult()
    pending = letters.letters(limit)  # one pass: letters that keep failing are not read again
    for start in range(0, len(pending), batch):
        chunk: list[tuple[str, BusMessage]] = []
        for key, letter in pending[start : start + batch]:
            try:
                data = base64.b64decode(letter.data or "", validate=True) if letter.data else None
            except (binascii.Error, ValueError):
                data = None
            if data is None:
                result.unreadable += 1
                log.warning("dead letter %s has no readable data: left as is", key)
                continue
            chunk.append((key, BusMessage(letter.id, data)))
        if not chunk:
            continue
        outcome = writer.handle([m for _, m in chunk])  # the database down raises: nothing more removed
        result.written += outcome.written
        result.duplicates += outcome.duplicates
        for key, message in chunk:
            reason = outcome.failed.get(message.id)
            if reason is None:
                letters.remove(key)
                result.replayed += 1
            else:
                result.still_failing += 1
                log.warning("dead letter %s still fails: %s", key, reason, extra={"dead_letter": key, "reason": reason})
    return result


def main(argv: Sequence[str] | None = None) -> int:
    from prism import bootstrap

    parser = argparse.ArgumentParser(prog="python -m writer.replay", description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=100_000, help="at most this many letters (default 100000)")
    parser.add_argument("--batch", type=int, default=500, help="records per write (default 500)")
    args = parser.parse_args(argv)
    setup_logging("prism-writer")
    settings = get_settings()
    writer = bootstrap.build_record_writer(settings)
    results: dict[str, dict[str, int]] = {}
    for source in bootstrap.build_replay_sources(settings):
        name = type(source).__name__
        try:
            results[name] = asdict(replay(source, writer, batch=args.batch, limit=args.limit))
        except PrismError as exc:
            log.error("replay of %s stopped: %s", name, exc.message)
            print(json.dumps(results))
            return 1
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
