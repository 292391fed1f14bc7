"""A local Kinesis event source mapping: ``python -m writer.kinesis_poller``.

In AWS, Lambda reads the Kinesis stream and invokes ``writer.handler.handler`` (template.yaml:
``ReportBatchItemFailures``, ``BisectBatchOnFunctionError``, ``MaximumRetryAttempts``,
``MaximumRecordAgeInSeconds``, an SQS ``OnFailure`` destination). Nothing does that locally, so this
poller does it the same way, with ``PRISM_BUS=kinesis`` (compose profile ``kinesis``; ``make up``):

- **Batches per shard**: every shard is read on its own (GetRecords), in order, up to
  ``PRISM_KINESIS_BATCH_SIZE`` records per invocation, waiting at most
  ``PRISM_KINESIS_BATCH_WINDOW_S`` to fill a batch. A shard split or merged is read after its
  parents are read to their end.
- **The Lambda event**: ``{"Records": [{"kinesis": {"kinesisSchemaVersion", "partitionKey",
  "sequenceNumber", "data" (base64), "approximateArrivalTimestamp"}, "eventSource": "aws:kinesis",
  "eventVersion", "eventID": "<shard>:<sequence number>", "eventName": "aws:kinesis:record",
  "invokeIdentityArn", "awsRegion", "eventSourceARN"}]}`` and a Lambda-like context object.
- **Partial batch failures**: the shard is checkpointed up to the record before the lowest
  sequence number in ``batchItemFailures``, and only the records from there on are retried; an
  empty, null or unknown ``itemIdentifier`` fails the whole batch, as does an exception.
- **Bisect and retry**: a batch that fails without progress is split in two and each half is
  retried in order; splitting does not use up retries. A batch of one record (or any batch, with
  bisection off) is retried ``PRISM_KINESIS_MAX_RETRIES`` times with backoff (-1: until the record
  is too old), then its description goes to the dead-letter destination and the shard moves on.
  Records older than ``PRISM_KINESIS_MAX_RECORD_AGE_S`` go there without being invoked.
- **The dead-letter destination** is the SQS queue ``PRISM_WRITER_DLQ`` (LocalStack's init hook or
  the moto server; created if missing), one message per discarded batch in Lambda's on-failure
  format (``requestContext``, ``responseContext``, ``KinesisBatchInfo`` with the shard and the
  sequence range, not the data: the records stay in Kinesis for its retention), plus a ``prism``
  object naming each record and, when the handler logged it, why it failed.
- **Checkpoints** are kept in ``PRISM_KINESIS_CHECKPOINT_DIR/<stream>.json`` (written atomically
  after every batch), so a restarted poller resumes after the last record handled: nothing is
  invoked twice except a batch that was in flight when the poller was killed (the writer's ids make
  that harmless).

SIGTERM/SIGINT finish the invocation in hand and its checkpoint, then exit 0.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import re
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from prism.adapters.kinesis import ITERATOR_EXPIRED, Shard, StreamDescription, StreamRecord
from prism.config import Settings, get_settings
from prism.errors import BusError, ConfigError
from prism.logs import setup_logging

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any], Any], Any]
FUNCTION_NAME = "prism-writer-local"


class StreamSource(Protocol):
    def describe(self) -> StreamDescription: ...

    def shards(self) -> list[Shard]: ...

    def iterator(self, shard_id: str, position: str, after: str | None = None) -> str: ...

    def records(self, iterator: str, limit: int) -> tuple[list[StreamRecord], str | None, int]: ...


class DeadLetters(Protocol):
    def send(self, body: dict[str, Any]) -> None: ...


# ------------------------------------------------------------------------------ checkpoints


class CheckpointFile:
    """Each shard's last handled sequence number (and whether it was read to its end), in one JSON
    file per stream, replaced atomically. Checkpoints of an earlier stream of the same name
    (another creation time) are ignored."""

    def __init__(self, directory: str | os.PathLike[str], stream: StreamDescription) -> None:
        self.path = Path(directory) / f"{re.sub(r'[^A-Za-z0-9._-]', '_', stream.name)}.json"
        self.stream = stream
        self.shards: dict[str, dict[str, Any]] = {}
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read the checkpoints in {self.path} (fix or remove it): {exc}") from exc
        if data.get("streamArn") == stream.arn and data.get("streamCreated") == stream.created:
            self.shards = dict(data.get("shards") or {})
        else:
            log.warning("%s holds the checkpoints of an earlier stream %s: starting afresh", self.path, stream.name)

    def after(self, shard_id: str) -> str | None:
        value = self.shards.get(shard_id, {}).get("sequenceNumber")
        return str(value) if value else None

    def ended(self, shard_id: str) -> bool:
        return bool(self.shards.get(shard_id, {}).get("ended"))

    def save(self, shard_id: str, sequence_number: str | None, *, ended: bool = False) -> None:
        entry = self.shards.setdefault(shard_id, {})
        if sequence_number is not None:
            entry["sequenceNumber"] = sequence_number
        entry["ended"] = ended or bool(entry.get("ended"))
        entry["updatedAt"] = datetime.now(UTC).isoformat()
        body = {
            "stream": self.stream.name,
            "streamArn": self.stream.arn,
            "streamCreated": self.stream.created,
            "shards": self.shards,
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(body, f, indent=1, sort_keys=True)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


# ------------------------------------------------------------------------------ the mapping


@dataclass
class Batch:
    records: list[StreamRecord]
    attempts: int = 0  # retries used (splitting uses none)
    invocations: int = 0
    reasons: dict[str, str] = field(default_factory=dict)  # sequence number -> why, as the handler logged it
    error: str | None = None  # the last function error


@dataclass
class ShardState:
    shard: Shard
    iterator: str | None = None
    buffer: list[StreamRecord] = field(default_factory=list)  # read, not yet in a batch
    pending: deque[Batch] = field(default_factory=deque)  # in order; the head is the next invocation
    last_read: str | None = None  # the last sequence number read (where a new iterator resumes)
    first_buffered: float | None = None
    closed: bool = False  # GetRecords gave no next iterator: the shard was read to its end
    done: bool = False  # closed, and everything in it handled
    caught_up: bool = False  # the last read found nothing new
    next_at: float = 0.0
    io_backoff: float = 0.0


@dataclass
class LocalContext:
    """What a Lambda context object offers, for a handler invoked by the local poller."""

    function_name: str = FUNCTION_NAME
    function_version: str = "$LATEST"
    invoked_function_arn: str = ""
    memory_limit_in_mb: int = 1024
    aws_request_id: str = ""
    log_group_name: str = f"/aws/lambda/{FUNCTION_NAME}"
    log_stream_name: str = "local"
    deadline: float = 0.0

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


class _Reasons(logging.Handler):
    """Collects the per-record reasons the handler logs (``extra={"sequence_number", "reason"}``)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.reasons: dict[str, str] = {}

    def emit(self, record: logging.LogRecord) -> None:
        seq, reason = getattr(record, "sequence_number", None), getattr(record, "reason", None)
        if isinstance(seq, str) and isinstance(reason, str):
            self.reasons[seq] = reason


@contextlib.contextmanager
def _capture_reasons() -> Iterator[_Reasons]:
    capture = _Reasons()
    logger = logging.getLogger("writer.handler")  # the Lambda handler's logger
    logger.addHandler(capture)
    try:
        yield capture
    finally:
        logger.removeHandler(capture)


class KinesisPoller:
    def __init__(
        self,
        source: StreamSource,
        handler: Handler,
        dead_letters: DeadLetters,
        checkpoint_dir: str | os.PathLike[str],
        *,
        batch_size: int = 500,
        batch_window_s: float = 1.0,
        max_retries: int = -1,
        max_record_age_s: int = 165_600,
        bisect: bool = True,
        starting_position: str = "TRIM_HORIZON",
        idle_poll_s: float = 1.0,
        retry_backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        refresh_shards_s: float = 30.0,
        handler_timeout_s: float = 120.0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.source = source
        self.handler = handler
        self.dead_letters = dead_letters
        self.checkpoint_dir = checkpoint_dir
        self.batch_size = batch_size
        self.batch_window_s = batch_window_s
        self.max_retries = max_retries
        self.max_record_age_s = max_record_age_s
        self.bisect = bisect
        self.starting_position = starting_position
        self.idle_poll_s = idle_poll_s
        self.retry_backoff_s = retry_backoff_s
        self.max_backoff_s = max_backoff_s
        self.refresh_shards_s = refresh_shards_s
        self.handler_timeout_s = handler_timeout_s
        self.clock = clock
        self.wall_clock = wall_clock
        self.stop = threading.Event()
        self.stream: StreamDescription | None = None
        self.checkpoints: CheckpointFile | None = None
        self.shards: dict[str, ShardState] = {}
        self._next_refresh = 0.0
        self.invocations = 0
        self.dead_lettered = 0  # records sent to the dead-letter destination

    # -------------------------------------------------------------- running

    def start(self) -> None:
        """Describe the stream, load the checkpoints, list the shards (retrying until it works)."""
        delay = 0.5
        while True:
            try:
                self.stream = self.source.describe()
                self.checkpoints = CheckpointFile(self.checkpoint_dir, self.stream)
                self._refresh_shards()
                break
            except BusError as exc:
                log.warning("Kinesis unavailable, retrying in %.1fs: %s", delay, exc.message)
                if self.stop.wait(delay):
                    return
                delay = min(delay * 2, self.max_backoff_s)
        for state in self.shards.values():
            after = self.checkpoints.after(state.shard.shard_id)
            if after:
                log.info("shard %s resumes after %s", state.shard.shard_id, after)

    def run(self) -> None:
        self.start()
        while not self.stop.is_set():
            if not self.step():
                wake = min((s.next_at for s in self._runnable()), default=self.clock() + self.idle_poll_s)
                self.stop.wait(min(max(wake - self.clock(), 0.0), self.idle_poll_s))
        log.info("poller stopped: %d invocations, %d records dead-lettered", self.invocations, self.dead_lettered)

    def run_until_idle(self, timeout: float) -> None:
        """Work until every shard has been read to its tip and everything read is handled (tests,
        one-off drains). Raises TimeoutError after ``timeout`` seconds."""
        if self.stream is None:
            self.start()
        deadline = self.clock() + timeout
        while not self._idle():
            if self.clock() > deadline:
                raise TimeoutError(f"not idle after {timeout}s: {self._describe_state()}")
            if not self.step():
                wake = min((s.next_at for s in self._runnable()), default=self.clock() + self.idle_poll_s)
                time.sleep(min(max(wake - self.clock(), 0.0), self.idle_poll_s, max(deadline - self.clock(), 0.0)))

    def step(self) -> bool:
        """Do one thing for the shard that is due first: read, invoke, or dead-letter. False when
        nothing was due."""
        now = self.clock()
        if now >= self._next_refresh:
            try:
                self._refresh_shards()
            except BusError as exc:
                log.warning("cannot list the shards: %s", exc.message)
                self._next_refresh = now + min(self.refresh_shards_s, 5.0)
        due = [s for s in self._runnable() if s.next_at <= now]
        if not due:
            return False
        state = min(due, key=lambda s: s.next_at)
        try:
            if state.pending or self._fill(state):
                self._invoke_head(state)
            state.io_backoff = 0.0
        except BusError as exc:  # Kinesis or the dead-letter queue: try again later, nothing skipped
            state.io_backoff = min(max(state.io_backoff * 2, 0.5), self.max_backoff_s)
            state.next_at = self.clock() + state.io_backoff
            log.warning("shard %s: %s (retrying in %.1fs)", state.shard.shard_id, exc.message, state.io_backoff)
        return True

    # -------------------------------------------------------------- shards

    def _refresh_shards(self) -> None:
        for shard in self.source.shards():
            if shard.shard_id not in self.shards:
                state = ShardState(shard)
                assert self.checkpoints is not None
                state.done = self.checkpoints.ended(shard.shard_id)
                self.shards[shard.shard_id] = state
        self._next_refresh = self.clock() + self.refresh_shards_s

    def _runnable(self) -> list[ShardState]:
        out = []
        for state in self.shards.values():
            if state.done:
                continue
            parents = [self.shards.get(p) for p in state.shard.parents]
            if all(p is None or p.done for p in parents):  # a parent gone from the listing has expired
                out.append(state)
        return out

    def _idle(self) -> bool:
        return all(s.done or (s.caught_up and not s.buffer and not s.pending) for s in self._runnable())

    def _describe_state(self) -> str:
        return "; ".join(
            f"{s.shard.shard_id}: buffer {len(s.buffer)}, pending {len(s.pending)}, caught up {s.caught_up}"
            for s in self.shards.values()
            if not s.done
        )

    def _new_iterator(self, state: ShardState) -> str:
        assert self.checkpoints is not None
        after = state.last_read or self.checkpoints.after(state.shard.shard_id)
        position = "TRIM_HORIZON" if state.shard.parents else self.starting_position
        return self.source.iterator(state.shard.shard_id, position, after)

    def _fill(self, state: ShardState) -> bool:
        """Read the shard until a batch is ready (full, the window is over, or the shard ended):
        True when ``state.pending`` has a batch to invoke."""
        now = self.clock()
        more_waiting = False
        if not state.closed and len(state.buffer) < self.batch_size:
            if state.iterator is None:
                state.iterator = self._new_iterator(state)
            try:
                records, next_iterator, behind = self.source.records(
                    state.iterator, self.batch_size - len(state.buffer)
                )
            except BusError as exc:
                if exc.code != ITERATOR_EXPIRED:
                    raise
                state.iterator = None  # a new one resumes after the last record read
                return False
            state.iterator = next_iterator
            state.closed = next_iterator is None
            state.caught_up = not records
            if records:
                state.buffer.extend(records)
                state.last_read = records[-1].sequence_number
                if state.first_buffered is None:
                    state.first_buffered = now
                more_waiting = behind > 0
        if not state.buffer:
            if state.closed:
                assert self.checkpoints is not None
                self.checkpoints.save(state.shard.shard_id, None, ended=True)
                state.done = True
                log.info("shard %s read to its end", state.shard.shard_id)
            else:
                state.next_at = now + self.idle_poll_s
            return False
        full = len(state.buffer) >= self.batch_size
        window_over = state.first_buffered is not None and now - state.first_buffered >= self.batch_window_s
        if not (full or window_over or state.closed):
            first = state.first_buffered if state.first_buffered is not None else now
            state.next_at = now if more_waiting else min(first + self.batch_window_s, now + self.idle_poll_s)
            return False
        batch, state.buffer = state.buffer[: self.batch_size], state.buffer[self.batch_size :]
        state.first_buffered = now if state.buffer else None
        state.pending.append(Batch(batch))
        return True

    # -------------------------------------------------------------- invoking

    def _invoke_head(self, state: ShardState) -> None:
        batch = state.pending[0]
        now = self.clock()
        if self.max_record_age_s >= 0:
            cutoff = self.wall_clock() - self.max_record_age_s
            old = [r for r in batch.records if r.arrival < cutoff]
            if old:  # records arrive in order: the old ones are a prefix
                expired = Batch(old, batch.attempts, batch.invocations, batch.reasons, batch.error)
                self._dead_letter(state, expired, "RecordAgeExceeded")
                batch.records = batch.records[len(old) :]
                if not batch.records:
                    state.pending.popleft()
                state.next_at = now
                return
        batch.invocations += 1
        self.invocations += 1
        failed_at, error, reasons = self._call(state, batch.records)
        batch.reasons.update(reasons)
        if failed_at is None and error is None:
            self._checkpoint(state, batch.records[-1])
            state.pending.popleft()
            state.next_at = now
            return
        batch.error = error
        index = 0
        if failed_at is not None:
            index = next(i for i, r in enumerate(batch.records) if r.sequence_number == failed_at)
            if index > 0:  # checkpoint before the first failed record; retry from it
                self._checkpoint(state, batch.records[index - 1])
                batch.records = batch.records[index:]
                if self.bisect:  # "bisected at the returned sequence number": no retry used
                    state.next_at = now
                    return
        if self.bisect and len(batch.records) > 1 and index == 0:
            mid = len(batch.records) // 2
            state.pending.popleft()
            for half in reversed((batch.records[:mid], batch.records[mid:])):
                state.pending.appendleft(Batch(half, batch.attempts, batch.invocations, dict(batch.reasons), error))
            state.next_at = now
            return
        if 0 <= self.max_retries <= batch.attempts:
            self._dead_letter(state, batch, "RetryAttemptsExhausted")
            state.pending.popleft()
            state.next_at = now
            return
        batch.attempts += 1
        delay = min(self.retry_backoff_s * 2 ** (batch.attempts - 1), self.max_backoff_s)
        log.warning(
            "shard %s: batch of %d from %s failed (%s); retry %d%s in %.2fs",
            state.shard.shard_id,
            len(batch.records),
            batch.records[0].sequence_number,
            error or f"record {failed_at}",
            batch.attempts,
            f" of {self.max_retries}" if self.max_retries >= 0 else "",
            delay,
        )
        state.next_at = now + delay

    def _event(self, state: ShardState, records: list[StreamRecord]) -> dict[str, Any]:
        assert self.stream is not None
        region, account = _region_account(self.stream.arn)
        return {
            "Records": [
                {
                    "kinesis": {
                        "kinesisSchemaVersion": "1.0",
                        "partitionKey": r.partition_key,
                        "sequenceNumber": r.sequence_number,
                        "data": base64.b64encode(r.data).decode(),
                        "approximateArrivalTimestamp": r.arrival,
                    },
                    "eventSource": "aws:kinesis",
                    "eventVersion": "1.0",
                    "eventID": f"{state.shard.shard_id}:{r.sequence_number}",
                    "eventName": "aws:kinesis:record",
                    "invokeIdentityArn": f"arn:aws:iam::{account}:role/{FUNCTION_NAME}",
                    "awsRegion": region,
                    "eventSourceARN": self.stream.arn,
                }
                for r in records
            ]
        }

    def _call(self, state: ShardState, records: list[StreamRecord]) -> tuple[str | None, str | None, dict[str, str]]:
        """Invoke the handler: (lowest failed sequence number or None, function error or None, reasons)."""
        assert self.stream is not None
        region, account = _region_account(self.stream.arn)
        context = LocalContext(
            invoked_function_arn=f"arn:aws:lambda:{region}:{account}:function:{FUNCTION_NAME}",
            aws_request_id=str(uuid.uuid4()),
            deadline=time.monotonic() + self.handler_timeout_s,
        )
        event = self._event(state, records)
        with _capture_reasons() as capture:
            try:
                response = self.handler(event, context)
            except Exception as exc:
                log.warning("shard %s: the handler raised %s: %s", state.shard.shard_id, type(exc).__name__, exc)
                return None, f"{type(exc).__name__}: {exc}", capture.reasons
        failures = response.get("batchItemFailures") if isinstance(response, dict) else None
        if not failures:  # null or empty: the whole batch succeeded
            return None, None, capture.reasons
        sequence = {r.sequence_number for r in records}
        named: list[str] = []
        for item in failures:
            ident = item.get("itemIdentifier") if isinstance(item, dict) else None
            if not isinstance(ident, str) or ident not in sequence:
                return None, f"batchItemFailures names no record of the batch: {item!r}", capture.reasons
            named.append(ident)
        return min(named, key=int), None, capture.reasons

    def _checkpoint(self, state: ShardState, record: StreamRecord) -> None:
        assert self.checkpoints is not None
        self.checkpoints.save(state.shard.shard_id, record.sequence_number)

    def _dead_letter(self, state: ShardState, batch: Batch, condition: str) -> None:
        """Send the batch's description to the dead-letter destination, then checkpoint past it."""
        assert self.stream is not None
        region, account = _region_account(self.stream.arn)
        first, last = batch.records[0], batch.records[-1]
        body = {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": f"arn:aws:lambda:{region}:{account}:function:{FUNCTION_NAME}",
                "condition": condition,
                "approximateInvokeCount": batch.invocations,
            },
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": "Unhandled" if batch.error else None,
            },
            "version": "1.0",
            "timestamp": _iso(self.wall_clock()),
            "KinesisBatchInfo": {
                "shardId": state.shard.shard_id,
                "startSequenceNumber": first.sequence_number,
                "endSequenceNumber": last.sequence_number,
                "approximateArrivalOfFirstRecord": _iso(first.arrival),
                "approximateArrivalOfLastRecord": _iso(last.arrival),
                "batchSize": len(batch.records),
                "streamArn": self.stream.arn,
            },
            "prism": {
                "error": batch.error,
                "records": [
                    {
                        "sequenceNumber": r.sequence_number,
                        "partitionKey": r.partition_key,
                        "reason": batch.reasons.get(r.sequence_number),
                    }
                    for r in batch.records
                ],
            },
        }
        self.dead_letters.send(body)
        self.dead_lettered += len(batch.records)
        log.error(
            "shard %s: %d record(s) %s..%s sent to the dead letters (%s): %s",
            state.shard.shard_id,
            len(batch.records),
            first.sequence_number,
            last.sequence_number,
            condition,
            batch.error
            or "; ".join(
                sorted({batch.reasons[r.sequence_number] for r in batch.records if r.sequence_number in batch.reasons})
            ),
        )
        self._checkpoint(state, last)


def _region_account(arn: str) -> tuple[str, str]:
    parts = arn.split(":")
    return (parts[3], parts[4]) if len(parts) > 4 else ("us-east-1", "000000000000")


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# ------------------------------------------------------------------------------ entry point


def refuse_other_bus(settings: Settings) -> str | None:
    if settings.bus == "kinesis":
        return None
    return (
        f"writer.kinesis_poller reads Kinesis, but PRISM_BUS={settings.bus}: ingestion publishes to Redis "
        f"Streams ('{settings.stream}'), which `python -m writer.consumer` reads. Set PRISM_BUS=kinesis to use this."
    )


def build_poller(settings: Settings, handler: Handler | None = None) -> KinesisPoller:
    from prism import bootstrap

    if handler is None:
        from writer.handler import handler as lambda_handler

        handler = lambda_handler
    return KinesisPoller(
        bootstrap.build_kinesis_reader(settings),
        handler,
        bootstrap.build_dead_letters(settings),
        settings.kinesis_checkpoint_dir,
        batch_size=settings.kinesis_batch_size,
        batch_window_s=settings.kinesis_batch_window_s,
        max_retries=settings.kinesis_max_retries,
        max_record_age_s=settings.kinesis_max_record_age_s,
        bisect=settings.kinesis_bisect_on_error,
        starting_position=settings.kinesis_starting_position,
    )


def main() -> None:
    setup_logging("prism-writer")
    settings = get_settings()
    refusal = refuse_other_bus(settings)
    if refusal is not None:
        log.error("%s", refusal)
        sys.exit(2)
    poller = build_poller(settings)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: poller.stop.set())
    log.info(
        "polling Kinesis stream %s for writer.handler.handler (checkpoints in %s, dead letters to SQS %s)",
        settings.kinesis_stream,
        settings.kinesis_checkpoint_dir,
        settings.writer_dlq,
    )
    poller.run()


if __name__ == "__main__":
    main()
