"""The ingestion service: validate each event, redact it, offload big or kept payloads, publish.

Nothing leaves this module unredacted: the bus, the raw payload store and (through the writer)
the database only ever see the output of ``redact_event``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from pydantic import ValidationError

from prism.clock import Clock, utc_now
from prism.errors import BusError, StoreError
from prism.events import InferenceEvent
from prism.ports import Bus, RawPayloadStore, Redactor
from prism.records import DEFAULT_PROJECT, PAYLOAD_KEYS, encode_record
from prism.redact import STRUCTURAL_FIELDS, redact_event

log = logging.getLogger(__name__)


@dataclass
class Rejection:
    index: int
    id: str | None
    errors: list[str]


@dataclass
class IngestResult:
    accepted: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    offloaded: int = 0
    redactions: dict[str, int] = field(default_factory=dict)


def describe(exc: ValidationError) -> list[str]:
    out = []
    for e in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(p) for p in e["loc"])
        msg = str(e["msg"]).removeprefix("Value error, ")  # the contract's own checks say what is wrong
        out.append(f"{where}: {msg}" if where else msg)
    return out


_SERIALIZE = InferenceEvent.__pydantic_serializer__.to_json
CONTENT_FIELDS: set[str] = set(InferenceEvent.model_fields) - STRUCTURAL_FIELDS
MAX_DEPTH = 250  # orjson's serialisation limit (254) with room for the record envelope


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    return value


def raw_key(event_id: str, created_at: datetime) -> str:
    return f"{created_at:%Y/%m/%d/%H}/{event_id}.json"


class Ingestor:
    def __init__(
        self,
        bus: Bus,
        redactor: Redactor,
        raw_store: RawPayloadStore | None = None,
        *,
        keep_raw: bool = False,
        max_payload_bytes: int = 256 * 1024,
        clock: Clock = utc_now,
    ) -> None:
        self.bus = bus
        self.redactor = redactor
        self.raw_store = raw_store
        self.keep_raw = keep_raw
        self.max_payload_bytes = max_payload_bytes
        self.clock = clock

    def ingest(self, events: Sequence[Any], *, project: str = DEFAULT_PROJECT) -> IngestResult:
        """Accept the valid events of a batch (each validated on its own; the others are
        rejected with their reasons), stamped with ``project`` (the sending key's). Raises
        UnavailableError, with nothing accepted, if the bus or the raw store fails: the client
        retries and event ids make the retry safe."""
        result = IngestResult()
        valid: list[tuple[int, InferenceEvent]] = []
        for index, obj in enumerate(events):
            if not isinstance(obj, dict):
                result.rejected.append(Rejection(index, None, ["event must be a JSON object"]))
                continue
            try:
                valid.append((index, InferenceEvent.model_validate(obj)))
            except ValidationError as exc:
                eid = obj.get("id")
                result.rejected.append(Rejection(index, eid if isinstance(eid, str) else None, describe(exc)))
        return self.ingest_valid(valid, result, project=project)

    def ingest_valid(
        self,
        events: Sequence[tuple[int, InferenceEvent]],
        result: IngestResult | None = None,
        *,
        project: str = DEFAULT_PROJECT,
    ) -> IngestResult:
        """Accept (index, event) pairs already validated (the fast path validates the whole body at
        once). An event that cannot be stored as it is (nested too deeply) is rejected here."""
        result = result or IngestResult()
        created_at = self.clock()
        totals: dict[str, int] = {}
        prepared: list[tuple[str, dict[str, Any] | None, dict[str, int], bytes]] = []
        for index, event in events:
            try:
                # Fast path: when a cheap scan of the event's content finds nothing any pattern
                # could match, its JSON is made in one call, with no dict and no redaction pass.
                probe = _SERIALIZE(event, include=CONTENT_FIELDS, exclude_none=True)
                data: dict[str, Any] | None = None
                counts: dict[str, int] = {}
                if self.redactor.may_find(probe.decode()):
                    data = event.model_dump(mode="json", exclude_none=True)
                    counts = redact_event(data, self.redactor)
                    full = orjson.dumps(data)
                else:
                    full = _SERIALIZE(event, exclude_none=True)
            except (ValueError, TypeError, RecursionError) as exc:  # pydantic's or orjson's depth limit
                reason = f"event cannot be serialised ({exc}): nesting deeper than about {MAX_DEPTH} levels is refused"
                result.rejected.append(Rejection(index, str(event.id), [reason]))
                continue
            if b"\\u0000" in full:  # PostgreSQL text and jsonb cannot hold NUL: store U+FFFD instead
                data = _without_nul(data if data is not None else orjson.loads(full))
                full = orjson.dumps(data)
            for kind, n in counts.items():
                totals[kind] = totals.get(kind, 0) + n
            prepared.append((str(event.id), data, counts, full))
        result.rejected.sort(key=lambda r: r.index)

        offload = [p for p in prepared if self.keep_raw or len(p[3]) > self.max_payload_bytes]
        uris: dict[str, str] = {}
        if offload:
            if self.raw_store is None:
                raise StoreError("an event needs the raw payload store but none is configured")
            keys = [(raw_key(eid, created_at), full) for eid, _, _, full in offload]
            for (eid, *_), uri in zip(offload, self.raw_store.put_many(keys), strict=True):
                uris[eid] = uri

        messages: list[tuple[str, bytes]] = []
        for eid, data, counts, full in prepared:
            found: str | None = uris.get(eid)
            if found is None:  # the common case: the event's bytes go on the bus as they are
                messages.append((eid, encode_record(None, created_at, counts, None, project=project, event_json=full)))
                continue
            whole = data if data is not None else orjson.loads(full)
            body: dict[str, Any] | None = {k: v for k, v in whole.items() if k not in PAYLOAD_KEYS}
            if len(orjson.dumps(body)) > self.max_payload_bytes:
                body = None  # the writer reads the whole event from the store
            messages.append((eid, encode_record(body, created_at, counts, found, project=project)))
        if messages:
            published = self.bus.publish(messages)
            if published.failed:
                # Some records never reached the bus: refuse the batch so the client retries all
                # of it (event ids make the retry safe for the ones that did get through).
                raise BusError(f"{len(published.failed)} of {len(messages)} events could not be published")
        result.accepted = len(messages)
        result.offloaded = len(uris)
        result.redactions = totals
        return result
