"""The pipeline's ports: small protocols ingestion and the writer depend on. One adapter module per
technology in :mod:`prism.adapters`. The read side's are in :mod:`prism.read`, the chat's in
:mod:`chat.ports`."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from prism.records import LogRow


@dataclass(frozen=True)
class BusMessage:
    """One message read from the bus: an opaque id the bus acks by, and the JSON bytes."""

    id: str
    data: bytes
    deliveries: int = 1


@dataclass
class PublishResult:
    published: int = 0
    trimmed: int = 0
    failed: list[int] = field(default_factory=list)


class Bus(Protocol):
    """Where accepted events go between ingestion and the writer."""

    def publish(self, messages: Sequence[tuple[str, bytes]]) -> PublishResult:
        """Publish (partition key, data) pairs. Raises BusError if none could be published."""
        ...

    def ping(self) -> None: ...

    def stats(self, group: str) -> dict[str, Any] | None:
        """The pipeline's figures as the bus sees them for the writers' consumer group ``group``
        (lag, pending, consumers, dead letters, trims, memory), or None when this bus keeps none
        (Kinesis: the event source mapping's metrics are in CloudWatch)."""
        ...


class RawPayloadStore(Protocol):
    """Object storage for redacted raw payloads. URIs are what rows keep in ``raw_payload_uri``."""

    def put(self, key: str, data: bytes) -> str: ...

    def put_many(self, items: Sequence[tuple[str, bytes]]) -> list[str]: ...

    def get(self, uri: str) -> bytes: ...

    def ping(self) -> None: ...


@dataclass(frozen=True)
class DeadLetter:
    """A record the writer can never write, kept with why: ``data`` is the record's bytes base64
    encoded as the bus gave them (Kinesis ``data``; the text as received when it is not base64,
    None when there was none), so it outlives the stream's retention and can be replayed."""

    id: str  # the record's sequence number (Kinesis) or message id
    data: str | None
    reason: str
    at: datetime
    source: str = "kinesis"

    @property
    def key(self) -> str:
        """``<date>/<id>.json``: one letter per record (a record dead-lettered twice is one letter)."""
        return f"{self.at:%Y-%m-%d}/{re.sub(r'[^A-Za-z0-9._-]', '_', self.id)}.json"

    def to_json(self) -> bytes:
        body = {"id": self.id, "source": self.source, "reason": self.reason, "data": self.data}
        return json.dumps({**body, "deadLetteredAt": self.at.isoformat()}).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> DeadLetter:
        body = json.loads(raw)
        data = body.get("data")
        return cls(
            id=str(body["id"]),
            data=data if isinstance(data, str) else None,
            reason=str(body.get("reason", "")),
            at=datetime.fromisoformat(body["deadLetteredAt"]),
            source=str(body.get("source", "kinesis")),
        )


class DeadLetterStore(Protocol):
    """Where the writer keeps the records it can never write (the raw payload bucket's
    ``dead-letters/`` prefix in AWS), until ``writer.replay`` feeds them back."""

    def put(self, letter: DeadLetter) -> str:
        """Store one letter (replacing one of the same key); returns its key."""
        ...

    def letters(self, limit: int = 1000) -> list[tuple[str, DeadLetter]]:
        """Up to ``limit`` letters, oldest day first, with their keys."""
        ...

    def remove(self, key: str) -> None: ...


@dataclass(frozen=True)
class Redaction:
    text: str
    counts: dict[str, int]


class Redactor(Protocol):
    """Finds PII and secrets in free text and replaces them with ``[TYPE]`` placeholders."""

    name: str

    def redact(self, text: str) -> Redaction: ...

    def may_find(self, text: str) -> bool:
        """False only when ``redact`` would certainly change nothing (a cheap pre-check)."""
        ...


class LogStore(Protocol):
    """Where the writer puts inference rows. ``write`` is idempotent on event id."""

    def write(self, rows: Sequence[LogRow]) -> int:
        """Write rows in one transaction; returns how many new rows were inserted. Raises
        BadRecordError when the rows' data is refused, StoreError when the store is unavailable."""
        ...

    def ping(self) -> None: ...

    def retained_since(self) -> datetime | None:
        """The oldest ``created_at`` the store keeps (None: everything). The writer does not send
        older rows: it counts them as dropped by retention (one rule for every storage profile)."""
        ...

    def maintain(self) -> dict[str, Any]:
        """Periodic upkeep (partitions ahead, expired ones dropped, old ids pruned); what it did.
        A store with nothing to keep up returns an empty dict."""
        ...
