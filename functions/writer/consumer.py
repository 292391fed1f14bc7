"""The writer's Redis Streams entry point: ``python -m writer.consumer``.

Reads ``inference.logged`` in consumer group ``cg-writer``, writes each batch in one transaction,
XACKs only after commit, deletes what every group has acknowledged (XTRIM MINID), reclaims what
dead consumers left pending (XAUTOCLAIM), moves entries that failed ``PRISM_WRITER_MAX_DELIVERIES``
times to ``inference.logged:dead`` with the reason, and stops cleanly on SIGTERM (the batch in hand
is finished and acked first). It reads Redis only: with ``PRISM_BUS=kinesis`` it refuses to start
(the Kinesis stream is read by ``python -m writer.kinesis_poller`` locally, by Lambda in AWS).
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from dataclasses import dataclass

from prism.adapters.redis_streams import RedisStreamsReader, entry_of
from prism.config import Settings, get_settings
from prism.errors import UnavailableError
from prism.logs import setup_logging
from prism.ports import BusMessage
from prism.write import RecordWriter

log = logging.getLogger(__name__)


@dataclass
class ConsumerStats:
    batches: int = 0
    written: int = 0
    duplicates: int = 0
    expired: int = 0  # rows older than retention: acknowledged, not stored, not dead letters
    dead_lettered: int = 0
    retried: int = 0
    trimmed: int = 0  # acknowledged entries deleted from the stream


class StreamConsumer:
    def __init__(
        self,
        reader: RedisStreamsReader,
        writer: RecordWriter,
        *,
        batch: int = 2000,
        block_ms: int = 200,
        max_deliveries: int = 5,
        claim_idle_ms: int = 30_000,
        maintain_every_s: float = 3600.0,
        heartbeat_s: float = 2.0,
    ) -> None:
        self.reader = reader
        self.heartbeat_s = heartbeat_s  # well under the readiness stall threshold
        self.writer = writer
        self.batch = batch
        # Stream entries hold one ingested request each (up to 500 events): read about ``batch``
        # events' worth, assuming half-full entries, so one transaction stays a few thousand rows.
        self.entries_per_read = max(1, batch // 250)
        self.block_ms = block_ms
        self.max_deliveries = max_deliveries
        self.claim_idle_ms = claim_idle_ms
        self.maintain_every_s = maintain_every_s
        self.stats = ConsumerStats()
        self.stop = threading.Event()

    def run(self) -> None:
        self._until_ok(self.reader.ensure_group)
        self._maintain()
        next_claim = next_beat = 0.0
        next_maintain = time.monotonic() + self.maintain_every_s
        while not self.stop.is_set():
            now = time.monotonic()
            messages: list[BusMessage] = []
            try:
                if now >= next_beat:  # readiness tells an idle writer from a dead one by this
                    self.reader.heartbeat()
                    next_beat = now + self.heartbeat_s
                if now >= next_claim:
                    messages = self.reader.reclaim(self.claim_idle_ms, self.entries_per_read)
                    if not messages:
                        next_claim = now + max(self.claim_idle_ms / 4000.0, 0.5)
                if not messages:
                    messages = self.reader.read(self.entries_per_read, self.block_ms)
            except UnavailableError as exc:
                log.warning("bus unavailable: %s", exc.message)
                self.stop.wait(1.0)
                continue
            if messages:
                self.process(messages)
            if now >= next_maintain:
                self._maintain()
                next_maintain = now + self.maintain_every_s
        log.info("writer stopped: %s", self.stats)

    def process(self, messages: list[BusMessage]) -> None:
        """Write one batch; retry transient failures in place until done or told to stop."""
        delay = 0.1
        while True:
            try:
                outcome = self.writer.handle(messages)
                break
            except UnavailableError as exc:
                self.stats.retried += 1
                log.warning("store unavailable, retrying in %.1fs: %s", delay, exc.message)
                if self.stop.wait(delay):
                    return  # not acked: another consumer (or the next start) reclaims them
                delay = min(delay * 2, 5.0)
        # An entry (one published batch) is acked once every record in it is written or
        # dead-lettered; a record that may still succeed keeps its whole entry pending (the
        # re-delivered good records are duplicates the store ignores).
        entries: dict[str, list[BusMessage]] = {}
        for message in messages:
            entries.setdefault(entry_of(message.id), []).append(message)
        ack: list[str] = []
        dead: list[tuple[BusMessage, str]] = []
        for entry, members in entries.items():
            failed = [(m, outcome.failed[m.id]) for m in members if m.id in outcome.failed]
            if not failed:
                ack.append(entry)
            elif all(m.deliveries >= self.max_deliveries for m, _ in failed):
                for m, reason in failed:
                    log.error("dead-lettering %s after %d deliveries: %s", m.id, m.deliveries, reason)
                dead.extend(failed)
                ack.append(entry)
            else:
                for m, reason in failed:
                    log.warning("record %s failed (delivery %d): %s", m.id, m.deliveries, reason)
        if dead:
            self._until_ok(lambda: self.reader.dead_letter(dead, ack))
            self.stats.dead_lettered += len(dead)
        else:
            self._until_ok(lambda: self.reader.ack(ack))
        if ack:
            self._trim()
        self.stats.batches += 1
        self.stats.written += outcome.written
        self.stats.duplicates += outcome.duplicates
        self.stats.expired += outcome.expired

    def _trim(self) -> None:
        """Delete what every group has acknowledged (best effort: the next batch tries again)."""
        try:
            self.stats.trimmed += self.reader.trim_acknowledged()
        except UnavailableError as exc:
            log.warning("could not trim acknowledged entries: %s", exc.message)

    def _maintain(self) -> None:
        self._trim()
        try:
            gone = self.reader.forget_idle_consumers()
            if gone:
                log.info("removed idle consumers with nothing pending: %s", ", ".join(gone))
        except UnavailableError as exc:
            log.warning("consumer cleanup skipped: %s", exc.message)
        try:
            log.info("maintenance: %s", self.writer.store.maintain())
        except UnavailableError as exc:
            log.warning("maintenance skipped: %s", exc.message)

    def _until_ok(self, action: object) -> None:
        delay = 0.1
        while True:
            try:
                action()  # type: ignore[operator]
                return
            except UnavailableError as exc:
                log.warning("bus unavailable, retrying in %.1fs: %s", delay, exc.message)
                if self.stop.wait(delay) and self.stop.is_set() and delay >= 5.0:
                    raise
                delay = min(delay * 2, 5.0)


def build_consumer(settings: Settings) -> StreamConsumer:
    from prism import bootstrap

    return StreamConsumer(
        bootstrap.build_stream_reader(settings),
        bootstrap.build_record_writer(settings),
        batch=settings.writer_batch,
        block_ms=settings.writer_block_ms,
        max_deliveries=settings.writer_max_deliveries,
        claim_idle_ms=settings.writer_claim_idle_ms,
        heartbeat_s=min(2.0, settings.writer_stalled_after_s / 4),
    )


def refuse_other_bus(settings: Settings) -> str | None:
    """Why this entry point cannot serve the configured bus, or None."""
    if settings.bus == "redis":
        return None
    return (
        f"writer.consumer reads Redis Streams, but PRISM_BUS={settings.bus}: nothing would read the "
        f"{settings.bus} stream '{settings.kinesis_stream}'. Run `python -m writer.kinesis_poller` instead "
        "(locally; in AWS the Lambda event source mapping invokes writer.handler.handler), or set PRISM_BUS=redis."
    )


def main() -> None:
    setup_logging("prism-writer")
    settings = get_settings()
    refusal = refuse_other_bus(settings)
    if refusal is not None:
        log.error("%s", refusal)
        sys.exit(2)
    consumer = build_consumer(settings)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: consumer.stop.set())
    log.info("writer %s reading %s", consumer.reader.consumer, consumer.reader.stream)
    consumer.run()


if __name__ == "__main__":
    main()
