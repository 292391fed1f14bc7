"""Redis Streams adapter: the Bus (XADD + XTRIM) and the consumer-group reader the writer uses."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import redis

from prism.errors import BusError
from prism.ports import BusMessage, PublishResult

log = logging.getLogger(__name__)

DATA = b"d"  # one record per entry (what other producers may write)
BATCH = b"b"  # many records per entry, newline-separated (what ingestion writes)
SEP = "#"  # message id of record i of entry E: "E#i"


def client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=10, health_check_interval=30)


class RedisStreamsBus:
    """Publishes to one stream, trimmed to about ``maxlen`` entries; trimmed entries are counted."""

    def __init__(self, url: str, stream: str, maxlen: int) -> None:
        self._redis = client(url)
        self.stream = stream
        self.maxlen = maxlen
        self.stats_key = f"{stream}:stats"

    def publish(self, messages: Sequence[tuple[str, bytes]]) -> PublishResult:
        if not messages:
            return PublishResult()
        # One entry per published batch: records are JSON (no raw newlines), joined by b"\n".
        # A single XADD per request instead of one per event, and one XACK per batch downstream.
        try:
            pipe = self._redis.pipeline(transaction=False)
            pipe.xadd(self.stream, {BATCH: b"\n".join(data for _key, data in messages)})
            pipe.xtrim(self.stream, maxlen=self.maxlen, approximate=True)
            results = pipe.execute()
        except redis.RedisError as exc:
            raise BusError(f"Redis: {exc}") from exc
        trimmed = int(results[-1] or 0)
        if trimmed:
            log.warning("stream %s trimmed %d entries (PRISM_STREAM_MAXLEN=%d)", self.stream, trimmed, self.maxlen)
            try:
                self._redis.hincrby(self.stats_key, "trimmed", trimmed)
            except redis.RedisError:
                log.exception("could not count trimmed entries")
        return PublishResult(published=len(messages), trimmed=trimmed)

    def ping(self) -> None:
        try:
            self._redis.ping()
        except redis.RedisError as exc:
            raise BusError(f"Redis: {exc}") from exc

    def stats(self, group: str = "cg-writer") -> dict[str, int]:
        """Health figures: entries in the stream, the group's pending and lag, dead letters, trims."""
        figures = {"entries": 0, "pending": 0, "lag": 0, "dead_letters": 0, "trimmed": 0}
        try:
            pipe = self._redis.pipeline(transaction=False)
            pipe.xlen(self.stream)
            pipe.xlen(f"{self.stream}:dead")
            pipe.hget(self.stats_key, "trimmed")
            length, dead, trimmed = pipe.execute()
            figures.update(entries=int(length or 0), dead_letters=int(dead or 0), trimmed=int(trimmed or 0))
            groups = self._redis.xinfo_groups(self.stream) if length else []
        except redis.ResponseError as exc:  # e.g. a key of the wrong type, no group yet
            raise BusError(f"Redis: {exc}") from exc
        except redis.RedisError as exc:
            raise BusError(f"Redis: {exc}") from exc
        for g in groups:
            if _id(g["name"]) == group:
                figures["pending"] = int(g["pending"])
                figures["lag"] = int(g.get("lag") or 0)
        return figures

    def close(self) -> None:
        self._redis.close()


class RedisStreamsReader:
    """Consumer-group reads, acks, reclaiming, and the dead-letter stream of one writer."""

    def __init__(self, url: str, stream: str, group: str, consumer: str) -> None:
        self._redis = client(url)
        self.stream = stream
        self.group = group
        self.consumer = consumer
        self.dead_letters = f"{stream}:dead"
        self._claim_cursor = "0-0"

    def ensure_group(self) -> None:
        try:
            self._redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise BusError(f"Redis: {exc}") from exc
        except redis.RedisError as exc:
            raise BusError(f"Redis: {exc}") from exc

    def read(self, count: int, block_ms: int) -> list[BusMessage]:
        try:
            reply = self._redis.xreadgroup(self.group, self.consumer, {self.stream: ">"}, count=count, block=block_ms)
        except redis.ResponseError as exc:
            if "NOGROUP" in str(exc):
                self.ensure_group()
                return []
            raise BusError(f"Redis: {exc}") from exc
        except redis.RedisError as exc:
            raise BusError(f"Redis: {exc}") from exc
        batches: Any = reply or []
        return [m for _s, entries in batches for mid, fields in entries for m in _unpack(_id(mid), fields, 1)]

    def reclaim(self, min_idle_ms: int, count: int) -> list[BusMessage]:
        """Take over entries another (dead) consumer left pending for longer than ``min_idle_ms``."""
        try:
            reply: Any = self._redis.xautoclaim(
                self.stream,
                self.group,
                self.consumer,
                min_idle_time=min_idle_ms,
                start_id=self._claim_cursor,
                count=count,
            )
            cursor, entries = reply[0], reply[1]
            self._claim_cursor = _id(cursor)
            live = [(mid, fields) for mid, fields in entries if fields is not None]
            if not live:
                return []
            ids = [_id(mid) for mid, _ in live]
            pending = self._redis.xpending_range(
                self.stream, self.group, min=ids[0], max=ids[-1], count=len(ids) * 2 + 10
            )
        except redis.RedisError as exc:
            raise BusError(f"Redis: {exc}") from exc
        deliveries = {_id(p["message_id"]): int(p["times_delivered"]) for p in pending}
        return [m for mid, fields in live for m in _unpack(_id(mid), fields, deliveries.get(_id(mid), 1))]

    def ack(self, ids: Sequence[str]) -> None:
        """Ack stream entries (``entry_of(message.id)``)."""
        if not ids:
            return
        try:
            self._redis.xack(self.stream, self.group, *ids)
        except redis.RedisError as exc:
            raise BusError(f"Redis: {exc}") from exc

    def dead_letter(self, messages: Sequence[tuple[BusMessage, str]], ack: Sequence[str]) -> None:
        """Copy failed records to the dead-letter stream (with why) and ack their entries, atomically."""
        try:
            pipe = self._redis.pipeline(transaction=True)
            for message, reason in messages:
                pipe.xadd(
                    self.dead_letters,
                    {
                        DATA: message.data,
                        b"id": message.id,
                        b"reason": reason[:2000],
                        b"deliveries": str(message.deliveries),
                    },
                )
            if ack:
                pipe.xack(self.stream, self.group, *ack)
            pipe.execute()
        except redis.RedisError as exc:
            raise BusError(f"Redis: {exc}") from exc

    def forget_idle_consumers(self, idle_ms: int = 3_600_000) -> list[str]:
        """Remove consumers that hold nothing and have been idle (old writer processes)."""
        try:
            consumers = self._redis.xinfo_consumers(self.stream, self.group)
            gone = [
                _id(c["name"])
                for c in consumers
                if int(c["pending"]) == 0 and int(c["idle"]) > idle_ms and _id(c["name"]) != self.consumer
            ]
            for name in gone:
                self._redis.xgroup_delconsumer(self.stream, self.group, name)
        except redis.ResponseError:
            return []
        except redis.RedisError as exc:
            raise BusError(f"Redis: {exc}") from exc
        return gone

    def close(self) -> None:
        self._redis.close()


def entry_of(message_id: str) -> str:
    return message_id.split(SEP, 1)[0]


def _unpack(entry: str, fields: dict[bytes, bytes], deliveries: int) -> list[BusMessage]:
    if BATCH in fields:
        return [BusMessage(f"{entry}{SEP}{i}", data, deliveries) for i, data in enumerate(fields[BATCH].split(b"\n"))]
    return [BusMessage(entry, fields.get(DATA, b""), deliveries)]


def _id(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
