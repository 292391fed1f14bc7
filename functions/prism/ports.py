"""The ports: small protocols the core depends on. One adapter module per technology."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, Protocol
from uuid import UUID

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

    def maintain(self) -> dict[str, Any]:
        """Periodic upkeep (partitions ahead, expired ones dropped, old ids pruned); what it did.
        A store with nothing to keep up returns an empty dict."""
        ...


# --- Chat app data (conversations, messages, provider credentials) -------------------------------
# Appended block owned by the chat function. Stores are synchronous; async callers run them in a
# worker thread. Timestamps are timezone-aware UTC.


MessageStatus = Literal["complete", "cancelled", "error", "streaming"]
MessageRole = Literal["system", "user", "assistant"]


@dataclass
class Conversation:
    id: UUID
    title: str
    model: str | None
    created_at: datetime
    updated_at: datetime


@dataclass
class ChatMessage:
    id: UUID
    conversation_id: UUID
    role: MessageRole
    content: str
    status: MessageStatus
    created_at: datetime
    model: str | None = None
    provider: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    cost_usd: float | None = None
    latency_ms: float | None = None
    ttft_ms: float | None = None
    error_code: str | None = None
    error_message: str | None = None
    inference_event_id: UUID | None = None


@dataclass
class MessageOutcome:
    """How an assistant message ended; written once when its stream stops."""

    status: MessageStatus
    content: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    cost_usd: float | None = None
    latency_ms: float | None = None
    ttft_ms: float | None = None
    error_code: str | None = None
    error_message: str | None = None
    inference_event_id: UUID | None = None


@dataclass(frozen=True)
class TurnStart:
    """What ``begin_turn`` stored, and the history (in order, ending with the new user message)."""

    conversation: Conversation
    user_message: ChatMessage
    assistant_message: ChatMessage
    history: list[ChatMessage]


@dataclass
class StoredCredential:
    """A provider credential as stored: the API key only as a Fernet token."""

    provider: str
    api_key_ciphertext: str | None
    key_last4: str
    base_url: str | None
    models: list[str]
    created_at: datetime | None = None
    updated_at: datetime | None = None


class ConversationStore(Protocol):
    def create_conversation(self, conversation_id: UUID, title: str) -> Conversation: ...

    def list_conversations(self, limit: int, before: tuple[datetime, UUID] | None = None) -> list[Conversation]:
        """Newest activity first; ``before`` is the (updated_at, id) of the last item of a page."""
        ...

    def get_conversation(self, conversation_id: UUID) -> Conversation | None: ...

    def get_messages(self, conversation_id: UUID) -> list[ChatMessage]: ...

    def rename_conversation(self, conversation_id: UUID, title: str) -> Conversation | None: ...

    def delete_conversation(self, conversation_id: UUID) -> bool: ...

    def begin_turn(
        self,
        conversation_id: UUID,
        user_message_id: UUID,
        assistant_message_id: UUID,
        content: str,
        model: str,
        provider: str,
        title_if_untitled: str,
    ) -> TurnStart:
        """In one transaction: store the user message and an assistant message in ``streaming``,
        bump the conversation, title it if untitled. Raises NotFoundError for an unknown id."""
        ...

    def finish_message(self, message_id: UUID, outcome: MessageOutcome) -> None: ...

    def request_cancel(self, conversation_id: UUID) -> list[UUID]:
        """Flag the conversation's streaming messages as cancel-requested; returns their ids."""
        ...

    def is_cancel_requested(self, message_id: UUID) -> bool: ...

    def ping(self) -> None: ...


class CredentialStore(Protocol):
    def list_credentials(self) -> list[StoredCredential]: ...

    def get_credential(self, provider: str) -> StoredCredential | None: ...

    def put_credential(self, credential: StoredCredential) -> StoredCredential: ...

    def delete_credential(self, provider: str) -> bool: ...


# --- the read side ------------------------------------------------------------------------------

GROUP_KEYS = ("model", "provider", "status")
#: Time steps of a timeseries are aligned to this instant (a Monday, 00:00 UTC).
EPOCH = datetime(2000, 1, 3, tzinfo=UTC)


def align_down(t: datetime, unit: timedelta) -> datetime:
    """The start of the ``unit`` (minute, hour, day, step) holding ``t``, counted from :data:`EPOCH`."""
    return t - (t - EPOCH) % unit


@dataclass(frozen=True)
class Filters:
    """Which rows count: each field is "any of" (empty: all)."""

    model: Sequence[str] = ()
    provider: Sequence[str] = ()
    status: Sequence[str] = ()


@dataclass(frozen=True)
class LogQuery:
    start: datetime
    end: datetime
    filters: Filters = field(default_factory=Filters)
    conversation_id: str | None = None
    trace_id: str | None = None
    user_id: str | None = None
    tag: str | None = None
    before: tuple[datetime, UUID] | None = None  # keyset: rows strictly older than (created_at, id)
    limit: int = 50


GroupKeyValue = str | None  # a group's value of one group_by key


@dataclass(frozen=True, slots=True)
class Totals:
    """Summed rollup rows of one group (``key``: its values of the group_by keys, in order) and, in
    a timeseries, one step (``t``: its start)."""

    requests: int
    errors: int
    latency_ms_sum: float
    latency_ms_max: float | None
    ttft_ms_sum: float
    ttft_count: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cost_usd: float
    key: tuple[GroupKeyValue, ...] = ()
    t: datetime | None = None


@dataclass(frozen=True, slots=True)
class HistogramCounts:
    """One ``metric``'s histogram ("latency" or "ttft") merged over a group (and step): ``idx`` the
    buckets holding values (ascending), ``n`` their counts."""

    metric: str
    idx: Sequence[int]
    n: Sequence[int]
    key: tuple[GroupKeyValue, ...] = ()
    t: datetime | None = None


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One inference event as the logs explorer lists it (columns of ``inference_logs``)."""

    id: UUID
    created_at: datetime
    ts_start: datetime
    ts_end: datetime
    latency_ms: float
    ttft_ms: float | None
    provider: str
    model: str
    response_model: str | None
    status: str
    finish_reason: str | None
    error_type: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    total_tokens: int | None
    cost_usd: float | None
    conversation_id: str | None
    message_id: str | None
    trace_id: str | None
    user_id: str | None
    tags: list[str]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A tool invocation of an event (``tool_invocations``)."""

    idx: int
    name: str
    tool_call_id: str | None
    status: str
    arguments: Any
    result: Any
    error: str | None
    ts_start: datetime | None
    ts_end: datetime | None
    latency_ms: float | None


@dataclass(frozen=True, slots=True)
class LogEntryDetail(LogEntry):
    """One inference event with every stored field: where its raw payload is kept (inline JSON or
    an object store URI) and its tool calls."""

    ts_first_token: datetime | None
    error_message: str | None
    cached_tokens: int | None
    reasoning_tokens: int | None
    cost_note: str | None
    span_id: str | None
    metadata: dict[str, Any]
    redactions: dict[str, int]
    raw_payload_jsonb: Any
    raw_payload_uri: str | None
    sdk: str | None
    schema_version: int
    tools: list[ToolCall]


class QueryStore(Protocol):
    """What the query API reads: rollup totals, merged histogram counts, log rows."""

    def totals(
        self,
        start: datetime,
        end: datetime,
        filters: Filters,
        group_by: Sequence[str] = (),
        step: timedelta | None = None,
    ) -> list[Totals]:
        """Per group (and ``step``): the rollups summed over [start, end); groups without requests
        are left out."""
        ...

    def histograms(
        self,
        start: datetime,
        end: datetime,
        filters: Filters,
        group_by: Sequence[str] = (),
        step: timedelta | None = None,
    ) -> list[HistogramCounts]: ...

    def list_logs(self, q: LogQuery) -> list[LogEntry]:
        """Newest first (``created_at``, then ``id``), at most ``q.limit``."""
        ...

    def get_log(self, log_id: UUID) -> LogEntryDetail | None: ...

    def ping(self) -> None: ...


@dataclass
class Dashboard:
    id: UUID
    name: str
    spec: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class DashboardStore(Protocol):
    def list_dashboards(self) -> list[Dashboard]: ...

    def get_dashboard(self, dashboard_id: UUID) -> Dashboard | None: ...

    def save_dashboard(self, dashboard_id: UUID, name: str, spec: dict[str, Any], *, create: bool) -> Dashboard | None:
        """Insert (``create``) or replace; None when replacing an id that does not exist."""
        ...

    def delete_dashboard(self, dashboard_id: UUID) -> bool: ...
