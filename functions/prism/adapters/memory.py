"""In-memory fakes of the ports, for unit tests (no network)."""

from __future__ import annotations

from collections.abc import Sequence

from prism.errors import BusError, RawPayloadNotFoundError
from prism.ports import PublishResult
from prism.records import BadRecordError, LogRow


class MemoryBus:
    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self.down = False

    def publish(self, messages: Sequence[tuple[str, bytes]]) -> PublishResult:
        if self.down:
            raise BusError("memory bus is down")
        self.messages.extend(messages)
        return PublishResult(published=len(messages))

    def ping(self) -> None:
        if self.down:
            raise BusError("memory bus is down")


class MemoryRawPayloadStore:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put(self, key: str, data: bytes) -> str:
        uri = f"mem://{key}"
        self.objects[uri] = data
        return uri

    def put_many(self, items: Sequence[tuple[str, bytes]]) -> list[str]:
        return [self.put(k, d) for k, d in items]

    def get(self, uri: str) -> bytes:
        try:
            return self.objects[uri]
        except KeyError as exc:
            raise RawPayloadNotFoundError(f"no raw payload at {uri}") from exc

    def ping(self) -> None:
        return None


class MemoryLogStore:
    """Idempotent on id like the real store; rows whose model is in ``poison`` fail as bad data."""

    def __init__(self, poison: set[str] | None = None) -> None:
        self.rows: dict[str, LogRow] = {}
        self.poison = poison or set()
        self.calls = 0

    def write(self, rows: Sequence[LogRow]) -> int:
        self.calls += 1
        if any(r.model in self.poison for r in rows):
            raise BadRecordError("poisoned model")
        new = 0
        for row in rows:
            if row.id not in self.rows:
                self.rows[row.id] = row
                new += 1
        return new

    def ping(self) -> None:
        return None
