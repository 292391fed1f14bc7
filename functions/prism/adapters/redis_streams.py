"""Redis Streams adapter: the Bus (XADD + trimming) and the consumer-group reader the writer uses.

Memory stays bounded three ways: the writer deletes what every consumer group has acknowledged
(``RedisStreamsReader.trim_acknowledged``: XTRIM MINID up to the oldest entry some group still
holds pending or has not been delivered), and ingestion caps the stream at about ``maxlen``
entries and ``max_bytes`` bytes (the oldest entries go first and are counted as trimmed).
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import redis

from prism.errors import BusError
from prism.ports import BusMessage, DeadLetter, PublishResult

log = logging.getLogger(__name__)

DATA = b"d"  # one record per entry (what other producers may write)
BATCH = b"b"  # many records per entry, newline-separated (what ingestion writes)
SEP = "#"  # message id of record i of entry E: "E#i"
LAG_COUNT_CAP = 1000  # undelivered entries counted one by one; beyond that the lag is a lower bound

# Deletes the entries every group has acknowledged, atomically with reading the groups' state:
# entries older than the oldest entry any group holds pending, or older than the first entry a
# group has not been delivered. A stream without groups is left alone (nothing is known acked).
_TRIM_ACKNOWLEDGED = """
local ok, groups = pcall(redis.call, 'XINFO', 'GROUPS', KEYS[1])
if not ok or #groups == 0 then return {0, ''} end
local best_ms, best_seq, best_ms_s
for _, g in ipairs(groups) do
  local f = {}
  for i = 1, #g, 2 do f[g[i]] = g[i + 1] end
  local id, bump = f['last-delivered-id'], 1
  if tonumber(f['pending']) > 0 then
    id = redis.call('XPENDING', KEYS[1], f['name'])[2]
    bump = 0
  end
  local dash = string.find(id, '-', 1, true)
  local ms_s = string.sub(id, 1, dash - 1)
  local ms, seq = tonumber(ms_s), tonumber(string.sub(id, dash + 1)) + bump
  if best_ms == nil or ms < best_ms or (ms == best_ms and seq < best_seq) then
    best_ms, best_seq, best_ms_s = ms, seq, ms_s
  end
end
local minid = best_ms_s .. '-' .. string.format('%d', best_seq)
return {redis.call('XTRIM', KEYS[1], 'MINID', minid), minid}
"""

# Entries after ARGV[1] (a group's last-delivered id), counted from the ids up to ARGV[2].
# Returns {count, 1} when exact, {ARGV[2], 0} when there are at least that many.
_COUNT_AFTER = """
local n, start, cap = 0, '(' .. ARGV[1], tonumber(ARGV[2])
while n < cap do
  local page = redis.call('XRANGE', KEYS[1], start, '+', 'COUNT', 50)
  n = n + #page
  if #page < 50 then return {n, 1} end
  start = '(' .. page[#page][1]
end
return {n, 0}
"""


def client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=10, health_check_interval=30)


class RedisStreamsBus:
    """Publishes to one stream, capped at about ``maxlen`` entries and ``max_bytes`` bytes
    (0: no byte cap); what the caps trim is counted in ``<stream>:stats``."""

    def __init__(self, url: str, stream: str, maxlen: int, max_bytes: int = 0) -> None:
        self._redis = client(url)
        self.stream = stream
        self.maxlen = maxlen
        self.max_bytes = max_bytes
        self.stats_key = f"{stream}:stats"
        self._count_after = self._redis.register_script(_COUNT_AFTER)

    def publish(self, messages: Sequence[tuple[str, bytes]]) -> PublishResult:
        if not messages:
            return PublishResult()
        # One entry per published batch: records are JSON (no raw newlines), joined by b"\n".
        # A single XADD per request instead of one per event, and one XACK per batch downstream.
        try:
            pipe = self._redis.pipeline(transaction=False)
            pipe.xadd(self.stream, {BATCH: b"\n".join(data for _key, data in messages)})
            pipe.xtrim(self.stream, maxlen=self.maxlen, approximate=True)
            if self.max_bytes:
                pipe.memory_usage(self.stream, samples=5)
                pipe.xlen(self.stream)
            results = pipe.execute()
            trimmed = int(results[1] or 0)
            if trimmed:
                log.warning("stream %s trimmed %d entries (PRISM_STREAM_MAXLEN=%d)", self.stream, trimmed, self.maxlen)
            if self.max_bytes and int(results[2] or 0) > self.max_bytes:
                size, length = int(results[2]), int(results[3] or 0)
                keep = max(1, length * self.max_bytes // size)
                over = int(self._redis.xtrim(self.stream, maxlen=keep, approximate=True) or 0)
                log.warning(
                    "stream %s is %d bytes (PRISM_STREAM_MAX_BYTES=%d): trimmed %d of %d entries",
                    self.stream,
                    size,
                    self.max_bytes,
                    over,
                    length,
                )
                trimmed += over
        except redis.RedisError as exc:
            raise BusError(f"Redis: {exc}") from exc
        if trimmed:
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

    def stats(self, group: str = "cg-writer") -> dict[str, Any]:
        """The pipeline's figures: stream entries and bytes; the group's pending entries, its lag
        (entries not yet delivered, counted from the stream ids), its consumers and how long since
        the most recently active one was seen; dead letters; trims; Redis's memory."""
        figures: dict[str, Any] = {
            "entries": 0,
            "pending": 0,
            "lag": 0,
            "lag_exact": True,
            "dead_letters": 0,
            "trimmed": 0,
            "group": False,
            "consumers": 0,
            "consumer_idle_ms": None,
            "stream_bytes": 0,
            "redis_used_memory": 0,
            "redis_maxmemory": 0,
            "redis_maxmemory_policy": "",
        }
        try:
            pipe = self._redis.pipeline(transaction=False)
            pipe.xlen(self.stream)
            pipe.xlen(f"{self.stream}:dead")
            pipe.hget(self.stats_key, "trimmed")
            pipe.info("memory")
            pipe.exists(self.stream)
            length, dead, trimmed, memory, exists = pipe.execute()
            figures.update(
                entries=int(length or 0),
                dead_letters=int(dead or 0),
                trimmed=int(trimmed or 0),
                redis_used_memory=int(memory.get("used_memory", 0)),
                redis_maxmemory=int(memory.get("maxmemory", 0)),
                redis_maxmemory_policy=str(memory.get("maxmemory_policy", "")),
            )
            if not exists:
                return figures
            pipe = self._redis.pipeline(transaction=False)
            pipe.xinfo_stream(self.stream)
            pipe.xinfo_groups(self.stream)
            pipe.memory_usage(self.stream, samples=5)
            info, groups, size = pipe.execute()
            figures["stream_bytes"] = int(size or 0)
            mine = next((g for g in groups if _id(g["name"]) == group), None)
            if mine is None:
                return figures
            consumers = self._redis.xinfo_consumers(self.stream, group)
            figures.update(group=True, pending=int(mine["pending"]), consumers=len(consumers))
            # A consumer's activity: its last delivery (Redis's idle) or its last heartbeat, if later.
            seconds, micros = self._redis.time()
            now_ms = seconds * 1000 + micros // 1000
            beats = {_id(k): int(v) for k, v in self._redis.hgetall(heartbeats_key(self.stream, group)).items()}
            idle = [min(int(c["idle"]), now_ms - beats.get(_id(c["name"]), 0)) for c in consumers]
            if idle:
                figures["consumer_idle_ms"] = max(0, min(idle))
            delivered, generated = _id(mine["last-delivered-id"]), _id(info["last-generated-id"])
            if delivered != generated:
                count, exact = self._count_after(keys=[self.stream], args=[delivered, LAG_COUNT_CAP])
                figures["lag"] = int(count)
                if not exact:  # at least LAG_COUNT_CAP: Redis's own estimate, if it knows better
                    figures.update(lag=max(int(count), int(mine.get("lag") or 0)), lag_exact=False)
        except redis.RedisError as exc:  # also a key of the wrong type
            raise BusError(f"Redis: {exc}") from exc
        return figures

    def close(self) -> None:
        self._redis.close()


class RedisStreamsReader:
    """Consumer-group reads, acks, reclaiming, trimming and the dead-letter stream of one writer."""

    def __init__(self, url: str, stream: str, group: str, consumer: str) -> None:
        self._redis = client(url)
        self.stream = stream
        self.group = group
        self.consumer = consumer
        self.dead_letters = f"{stream}:dead"
        self._claim_cursor = "0-0"
        self._trim = self._redis.register_script(_TRIM_ACKNOWLEDGED)
        self._beat = self._redis.register_script(_HEARTBEAT)

    def ensure_group(self) -> None:
        try:
            self._redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise BusError(f"Redis: {exc}") from exc
        except redis.RedisError as exc:
            raise BusError(f"Redis: {exc}") from exc
        try:  # a consumer from the start, not from its first delivery
            self._redis.xgroup_createconsumer(self.stream, self.group, self.consumer)
        except redis.RedisError as exc:
            raise BusError(f"Redis: {exc}") from exc
        self.heartbeat()

    def heartbeat(self) -> None:
        """Say this consumer is alive, by Redis's clock. A blocking read that finds nothing does
        not count as activity in Redis 7.0's consumer figures, so an idle writer would look dead."""
        try:
            self._beat(keys=[heartbeats_key(self.stream, self.group)], args=[self.consumer])
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
        except redis.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise BusError(f"Redis: {exc}") from exc
            # The stream and its group are gone (Redis restarted without persistence): make them again,
            # as read() does, or the writer would retry this forever.
            self._claim_cursor = "0-0"
            self.ensure_group()
            return []
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

    def trim_acknowledged(self) -> int:
        """Delete the entries every consumer group of the stream has acknowledged; returns how many."""
        try:
            trimmed, _minid = self._trim(keys=[self.stream])
        except redis.RedisError as exc:
            raise BusError(f"Redis: {exc}") from exc
        return int(trimmed)

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
                self._redis.hdel(heartbeats_key(self.stream, self.group), name)
        except redis.ResponseError:
            return []
        except redis.RedisError as exc:
            raise BusError(f"Redis: {exc}") from exc
        return gone

    def close(self) -> None:
        self._redis.close()


def heartbeats_key(stream: str, group: str) -> str:
    """Hash of consumer name -> its last heartbeat (ms, Redis's clock)."""
    return f"{stream}:heartbeats:{group}"


_HEARTBEAT = """
local t = redis.call('TIME')
redis.call('HSET', KEYS[1], ARGV[1], t[1] * 1000 + math.floor(t[2] / 1000))
return 1
"""


def entry_of(message_id: str) -> str:
    return message_id.split(SEP, 1)[0]


def _unpack(entry: str, fields: dict[bytes, bytes], deliveries: int) -> list[BusMessage]:
    if BATCH in fields:
        return [BusMessage(f"{entry}{SEP}{i}", data, deliveries) for i, data in enumerate(fields[BATCH].split(b"\n"))]
    return [BusMessage(entry, fields.get(DATA, b""), deliveries)]


def _id(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisDeadLetters:
    """The Redis Streams writer's dead letters (``<stream>:dead``, written by
    ``RedisStreamsReader.dead_letter``) as a DeadLetterStore, for ``writer.replay``: the key is the
    entry id, removing a letter deletes its entry."""

    def __init__(self, url: str, stream: str) -> None:
        self._redis = client(url)
        self.stream = f"{stream}:dead"

    def put(self, letter: DeadLetter) -> str:
        fields = {DATA: base64.b64decode(letter.data or ""), b"id": letter.id, b"reason": letter.reason[:2000]}
        try:
            return _id(self._redis.xadd(self.stream, fields))  # type: ignore[arg-type]
        except redis.RedisError as exc:
            raise BusError(f"Redis: {exc}") from exc

    def letters(self, limit: int = 1000) -> list[tuple[str, DeadLetter]]:
        try:
            entries = self._redis.xrange(self.stream, count=limit)
        except redis.RedisError as exc:
            raise BusError(f"Redis: {exc}") from exc
        found: list[tuple[str, DeadLetter]] = []
        for entry_id, entry in entries or []:
            fields: dict[Any, Any] = dict(entry or {})
            key = _id(entry_id)
            at = datetime.fromtimestamp(int(key.split("-", 1)[0]) / 1000, UTC)
            data = fields.get(DATA)
            if isinstance(data, str):
                data = data.encode()
            letter = DeadLetter(
                id=_id(fields.get(b"id", entry_id)),
                data=base64.b64encode(data).decode() if data is not None else None,
                reason=_id(fields.get(b"reason", b"")),
                at=at,
                source="redis",
            )
            found.append((key, letter))
        return found

    def remove(self, key: str) -> None:
        try:
            self._redis.xdel(self.stream, key)
        except redis.RedisError as exc:
            raise BusError(f"Redis: {exc}") from exc
