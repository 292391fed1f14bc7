"""In-memory fakes of the ports, for unit tests (no network): the one home of the fakes.

The pipeline (bus, raw payload store, log store), the read side (query and dashboard stores) and
the chat's data (conversations, messages, provider credentials: ``InMemoryChatStore``, same
behaviour as PostgreSQL). The chat's model gateway and demo server fakes are in
``tests/unit/chat/conftest.py`` (they fake ``chat.gateway``, not a port of the core).
"""

from __future__ import annotations

import copy
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import fields as dataclass_fields
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from chat.errors import ConversationNotFoundError
from chat.model import ChatMessage, Conversation, MessageOutcome, StoredCredential, TurnStart

from prism import histogram
from prism.errors import BadRecordError, BusError, RawPayloadNotFoundError, StoreError
from prism.histogram import align_down
from prism.keys import IngestKey, digest, lookup_prefix
from prism.ports import DeadLetter, PublishResult
from prism.read import Dashboard, Filters, HistogramCounts, LogEntry, LogEntryDetail, LogQuery, Totals, name_taken
from prism.records import LogRow


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

    def stats(self, group: str) -> dict[str, Any] | None:
        """No consumer groups here: no figures."""
        return None


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

    def __init__(self, poison: set[str] | None = None, retained_from: datetime | None = None) -> None:
        self.rows: dict[str, LogRow] = {}
        self.poison = poison or set()
        self.retained_from = retained_from  # rows older than this are dropped by retention
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

    def retained_since(self) -> datetime | None:
        return self.retained_from

    def maintain(self) -> dict[str, Any]:
        return {}


# --- the read side ------------------------------------------------------------------------------

_SUMS = ("latency_ms_sum", "ttft_ms_sum", "prompt_tokens", "completion_tokens", "total_tokens", "cost_usd")


def _matches(row: dict[str, Any], filters: Filters) -> bool:
    return all(not wanted or row.get(name) in wanted for name, wanted in vars(filters).items())


class MemoryQueryStore:
    """The query API's store over a list of log rows (dicts with the columns of ``inference_logs``):
    totals and histogram counts computed from the rows themselves, at any resolution."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def add(self, created_at: datetime, **fields: Any) -> dict[str, Any]:
        row: dict[str, Any] = {
            **dict.fromkeys(f.name for f in dataclass_fields(LogEntryDetail)),
            "id": fields.pop("id", None) or UUID(int=len(self.rows) + 1),
            "created_at": created_at,
            "ts_start": created_at,
            "ts_end": created_at,
            "status": "ok",
            "model": "m",
            "provider": "p",
            "project": "default",
            "latency_ms": 100.0,
            "tags": [],
            "metadata": {},
            "redactions": {},
            "schema_version": 1,
            "tools": [],
            **fields,
        }
        self.rows.append(row)
        return row

    def _in(self, start: datetime, end: datetime, filters: Filters) -> list[dict[str, Any]]:
        return [r for r in self.rows if start <= r["created_at"] < end and _matches(r, filters)]

    @staticmethod
    def _key(row: dict[str, Any], group_by: Sequence[str]) -> tuple[str | None, ...]:
        return tuple(row[k] for k in group_by)

    def totals(
        self,
        start: datetime,
        end: datetime,
        filters: Filters,
        group_by: Sequence[str] = (),
        step: timedelta | None = None,
    ) -> list[Totals]:
        out: dict[tuple[Any, ...], dict[str, Any]] = {}
        for r in self._in(start, end, filters):
            key, t = self._key(r, group_by), align_down(r["created_at"], step) if step else None
            sums = out.setdefault(
                (t, key),
                {"key": key, "t": t, "requests": 0, "errors": 0, "latency_ms_max": None, "ttft_count": 0, "unpriced": 0}
                | dict.fromkeys(_SUMS, 0),
            )
            sums["requests"] += 1
            sums["errors"] += r["status"] == "error"
            latency, ttft = r.get("latency_ms"), r.get("ttft_ms")
            sums["latency_ms_sum"] += latency or 0
            if latency is not None:
                top = sums["latency_ms_max"]
                sums["latency_ms_max"] = latency if top is None else max(top, latency)
            if ttft is not None:
                sums["ttft_ms_sum"] += ttft
                sums["ttft_count"] += 1
            for name in ("prompt_tokens", "completion_tokens", "total_tokens", "cost_usd"):
                sums[name] += r.get(name) or 0
            sums["unpriced"] += r.get("cost_usd") is None
        return [Totals(**sums) for sums in out.values()]

    def histograms(
        self,
        start: datetime,
        end: datetime,
        filters: Filters,
        group_by: Sequence[str] = (),
        step: timedelta | None = None,
    ) -> list[HistogramCounts]:
        counts: dict[tuple[Any, ...], Counter[int]] = {}
        for r in self._in(start, end, filters):
            for metric, column in (("latency", "latency_ms"), ("ttft", "ttft_ms")):
                if r.get(column) is not None:
                    t = align_down(r["created_at"], step) if step else None
                    key = (metric, self._key(r, group_by), t)
                    counts.setdefault(key, Counter())[histogram.bucket(r[column])] += 1
        return [
            HistogramCounts(metric, sorted(c), [c[i] for i in sorted(c)], key=key, t=t)
            for (metric, key, t), c in counts.items()
        ]

    def list_logs(self, q: LogQuery) -> list[LogEntry]:
        rows = [
            r
            for r in self._in(q.start, q.end, q.filters)
            if all(
                value is None or r.get(name) == value
                for name, value in (
                    ("conversation_id", q.conversation_id),
                    ("trace_id", q.trace_id),
                    ("user_id", q.user_id),
                )
            )
            and (q.tag is None or q.tag in (r.get("tags") or ()))
            and (q.before is None or (r["created_at"], r["id"]) < q.before)
        ]
        rows.sort(key=lambda r: (r["created_at"], r["id"]), reverse=True)
        listed = [f.name for f in dataclass_fields(LogEntry)]
        return [LogEntry(**{k: r[k] for k in listed}) for r in rows[: q.limit]]

    def get_log(self, log_id: UUID) -> LogEntryDetail | None:
        row = next((r for r in self.rows if r["id"] == log_id), None)
        if row is None:
            return None
        return LogEntryDetail(**{f.name: row[f.name] for f in dataclass_fields(LogEntryDetail)})

    def ping(self) -> None:
        return None


class MemoryDashboardStore:
    def __init__(self) -> None:
        self.dashboards: dict[UUID, Dashboard] = {}
        self.clock = 0

    def _now(self) -> datetime:
        self.clock += 1
        return datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=self.clock)

    def list_dashboards(self, project: str = "default") -> list[Dashboard]:
        return self.list_dashboards_in([project])

    def list_dashboards_in(self, projects: Sequence[str]) -> list[Dashboard]:
        mine = (d for d in self.dashboards.values() if d.project in projects)
        return sorted(mine, key=lambda d: (d.updated_at, d.id), reverse=True)

    def get_dashboard(self, dashboard_id: UUID) -> Dashboard | None:
        return self.dashboards.get(dashboard_id)

    def save_dashboard(
        self,
        dashboard_id: UUID,
        name: str,
        spec: dict[str, Any],
        *,
        create: bool,
        owner: UUID | None = None,
        project: str = "default",
    ) -> Dashboard | None:
        old = self.dashboards.get(dashboard_id)
        if old is None and not create:
            return None
        owner, project = (old.user_id, old.project) if old else (owner, project)
        if any(
            d.id != dashboard_id and d.project == project and d.user_id == owner and d.name.lower() == name.lower()
            for d in self.dashboards.values()
        ):
            raise name_taken(name)
        now = self._now()
        saved = Dashboard(dashboard_id, name, spec, old.created_at if old else now, now, owner, project)
        self.dashboards[dashboard_id] = saved
        return saved

    def delete_dashboard(self, dashboard_id: UUID) -> bool:
        return self.dashboards.pop(dashboard_id, None) is not None


# --- the chat's data ----------------------------------------------------------------------------


class InMemoryChatStore:
    """Implements ``ConversationStore`` and ``CredentialStore`` in process memory."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._conversations: dict[UUID, Conversation] = {}
        self._owners: dict[UUID, UUID] = {}  # conversation id -> its user's id
        self._messages: dict[UUID, list[ChatMessage]] = {}
        self._cancel: set[UUID] = set()
        self.credentials: dict[str, StoredCredential] = {}
        self._clock = datetime.now(UTC)

    def _now(self) -> datetime:
        # strictly increasing, so "newest first" is deterministic in tests
        now = datetime.now(UTC)
        self._clock = max(now, self._clock + timedelta(microseconds=1))
        return self._clock

    def ping(self) -> None:
        return None

    def _owned(self, conversation_id: UUID, owner: UUID) -> Conversation | None:
        conv = self._conversations.get(conversation_id)
        return conv if conv is not None and self._owners.get(conversation_id) == owner else None

    def create_conversation(self, conversation_id: UUID, title: str, *, owner: UUID) -> Conversation:
        with self._lock:
            now = self._now()
            conv = Conversation(conversation_id, title, None, now, now)
            self._conversations[conversation_id] = conv
            self._owners[conversation_id] = owner
            self._messages[conversation_id] = []
            return replace(conv)

    def list_conversations(
        self, limit: int, before: tuple[datetime, UUID] | None = None, *, owner: UUID
    ) -> list[Conversation]:
        with self._lock:
            mine = [c for c in self._conversations.values() if self._owners.get(c.id) == owner]
            items = sorted(mine, key=lambda c: (c.updated_at, c.id), reverse=True)
            if before is not None:
                items = [c for c in items if (c.updated_at, c.id) < before]
            return [replace(c) for c in items[:limit]]

    def get_conversation(self, conversation_id: UUID, *, owner: UUID) -> Conversation | None:
        with self._lock:
            conv = self._owned(conversation_id, owner)
            return None if conv is None else replace(conv)

    def get_messages(self, conversation_id: UUID) -> list[ChatMessage]:
        with self._lock:
            return [replace(m) for m in self._messages.get(conversation_id, [])]

    def rename_conversation(self, conversation_id: UUID, title: str, *, owner: UUID) -> Conversation | None:
        with self._lock:
            conv = self._owned(conversation_id, owner)
            if conv is None:
                return None
            conv.title = title
            conv.updated_at = self._now()
            return replace(conv)

    def delete_conversation(self, conversation_id: UUID, *, owner: UUID) -> bool:
        with self._lock:
            if self._owned(conversation_id, owner) is None:
                return False
            self._messages.pop(conversation_id, None)
            self._owners.pop(conversation_id, None)
            return self._conversations.pop(conversation_id, None) is not None

    def begin_turn(
        self,
        conversation_id: UUID,
        user_message_id: UUID,
        assistant_message_id: UUID,
        content: str,
        model: str,
        provider: str,
        title_if_untitled: str,
        *,
        owner: UUID,
    ) -> TurnStart:
        with self._lock:
            conv = self._owned(conversation_id, owner)
            if conv is None:
                raise ConversationNotFoundError(f"conversation {conversation_id} not found")
            now = self._now()
            conv.updated_at = now
            conv.model = model
            if not conv.title:
                conv.title = title_if_untitled
            user = ChatMessage(user_message_id, conversation_id, "user", content, "complete", now)
            assistant = ChatMessage(
                assistant_message_id,
                conversation_id,
                "assistant",
                "",
                "streaming",
                self._now(),
                model=model,
                provider=provider,
            )
            self._messages[conversation_id].extend([user, assistant])
            history = [replace(m) for m in self._messages[conversation_id] if m.id != assistant_message_id]
            return TurnStart(replace(conv), replace(user), replace(assistant), history)

    def finish_message(self, message_id: UUID, outcome: MessageOutcome) -> None:
        with self._lock:
            for messages in self._messages.values():
                for m in messages:
                    if m.id == message_id:
                        m.status, m.content, m.reply = outcome.status, outcome.content, outcome.reply
                        return

    def save_partial(self, message_id: UUID, content: str) -> None:
        with self._lock:
            for messages in self._messages.values():
                for m in messages:
                    if m.id == message_id and m.status == "streaming":
                        m.content = content
                        return

    def get_message(self, conversation_id: UUID, message_id: UUID) -> ChatMessage | None:
        with self._lock:
            found = [m for m in self._messages.get(conversation_id, []) if m.id == message_id]
            return replace(found[0]) if found else None

    def request_cancel(self, conversation_id: UUID) -> list[UUID]:
        with self._lock:
            ids = [m.id for m in self._messages.get(conversation_id, []) if m.status == "streaming"]
            self._cancel.update(ids)
            return ids

    def is_cancel_requested(self, message_id: UUID) -> bool:
        with self._lock:
            return message_id in self._cancel

    def list_credentials(self) -> list[StoredCredential]:
        with self._lock:
            return [copy.deepcopy(c) for _, c in sorted(self.credentials.items())]

    def get_credential(self, provider: str) -> StoredCredential | None:
        with self._lock:
            cred = self.credentials.get(provider)
            return None if cred is None else copy.deepcopy(cred)

    def put_credential(self, credential: StoredCredential) -> StoredCredential:
        with self._lock:
            now = datetime.now(UTC)
            old = self.credentials.get(credential.provider)
            stored = replace(
                credential,
                models=list(credential.models),
                created_at=old.created_at if old else now,
                updated_at=now,
            )
            self.credentials[credential.provider] = stored
            return copy.deepcopy(stored)

    def delete_credential(self, provider: str) -> bool:
        with self._lock:
            return self.credentials.pop(provider, None) is not None


# --- identity (issue 11): users, sessions, keys, projects, invites, audit, run-time settings -----

import itertools  # noqa: E402 - this section's own imports
from uuid import uuid4  # noqa: E402

from prism.errors import ConflictError  # noqa: E402
from prism.identity.errors import EmailTakenError  # noqa: E402
from prism.identity.model import ApiKey, AuditEntry, Invite, Project, Role, Session, User  # noqa: E402


class MemoryIdentityStore:
    """The ``IdentityStore`` fake: PostgreSQL's behaviour (case-insensitive unique e-mails, cascades,
    one-time invites), in dicts."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.users: dict[UUID, User] = {}
        self.sessions: dict[bytes, Session] = {}
        self.keys: dict[UUID, ApiKey] = {}
        self.projects: dict[str, Project] = {
            slug: Project(uuid4(), slug, name, datetime(2026, 1, 1, tzinfo=UTC))
            for slug, name in (("default", "Default"), ("chat", "Chat"))
        }
        self.invites: dict[bytes, Invite] = {}
        self.audit: list[AuditEntry] = []
        self._audit_ids = itertools.count(1)
        self.config: dict[str, Any] = {"chat_project": "chat"}

    # --- users
    def count_users(self) -> int:
        return len(self.users)

    def get_user(self, user_id: UUID) -> User | None:
        return self.users.get(user_id)

    def find_user_by_email(self, email: str) -> User | None:
        return next((u for u in self.users.values() if u.email.lower() == email.strip().lower()), None)

    def find_user_by_oidc(self, issuer: str, subject: str) -> User | None:
        return next((u for u in self.users.values() if (u.oidc_issuer, u.oidc_subject) == (issuer, subject)), None)

    def list_users(self) -> list[User]:
        return sorted(self.users.values(), key=lambda u: (u.created_at, u.email))

    def create_user(self, user: User) -> User:
        with self._lock:
            if self.find_user_by_email(user.email):
                raise EmailTakenError(f"a user with the e-mail {user.email} exists")
            self.users[user.id] = user
            return user

    def update_user(self, user_id: UUID, **changes: Any) -> User | None:
        with self._lock:
            if user_id not in self.users:
                return None
            self.users[user_id] = replace(self.users[user_id], **changes)
            return self.users[user_id]

    def delete_user(self, user_id: UUID) -> bool:
        with self._lock:
            if self.users.pop(user_id, None) is None:
                return False
            self.sessions = {h: s for h, s in self.sessions.items() if s.user_id != user_id}
            self.keys = {k: v for k, v in self.keys.items() if v.user_id != user_id}
            self.invites = {h: i for h, i in self.invites.items() if i.user_id != user_id}
            return True

    def count_active_admins(self, excluding: UUID | None = None) -> int:
        return sum(1 for u in self.users.values() if u.role is Role.admin and not u.disabled and u.id != excluding)

    # --- sessions
    def create_session(self, session: Session) -> None:
        self.sessions[session.id_hash] = session

    def session_with_user(self, id_hash: bytes) -> tuple[Session, User] | None:
        session = self.sessions.get(id_hash)
        user = self.users.get(session.user_id) if session else None
        return (session, user) if session and user else None

    def touch_session(self, id_hash: bytes, at: datetime) -> None:
        if id_hash in self.sessions:
            self.sessions[id_hash] = replace(self.sessions[id_hash], last_seen_at=at)

    def delete_session(self, id_hash: bytes) -> None:
        self.sessions.pop(id_hash, None)

    def delete_user_sessions(self, user_id: UUID, keep: bytes | None = None) -> int:
        with self._lock:
            gone = [h for h, s in self.sessions.items() if s.user_id == user_id and h != keep]
            for h in gone:
                del self.sessions[h]
            return len(gone)

    def purge_sessions(self, before: datetime) -> int:
        with self._lock:
            gone = [h for h, s in self.sessions.items() if s.expires_at < before]
            for h in gone:
                del self.sessions[h]
            return len(gone)

    # --- API keys
    def _joined(self, key: ApiKey) -> ApiKey:
        project = next((p for p in self.projects.values() if p.id == key.project_id), None)
        user = self.users.get(key.user_id) if key.user_id else None
        return replace(key, project_slug=project.slug if project else None, user_email=user.email if user else None)

    def create_key(self, key: ApiKey) -> ApiKey:
        self.keys[key.id] = key
        return self._joined(key)

    def key_by_prefix(self, prefix: str) -> tuple[ApiKey, User | None] | None:
        key = next((k for k in self.keys.values() if k.prefix == prefix), None)
        if key is None:
            return None
        return self._joined(key), self.users.get(key.user_id) if key.user_id else None

    def list_keys(self) -> list[ApiKey]:
        return [self._joined(k) for k in sorted(self.keys.values(), key=lambda k: k.created_at, reverse=True)]

    def revoke_key(self, key_id: UUID, at: datetime) -> ApiKey | None:
        key = self.keys.get(key_id)
        if key is None or key.revoked_at is not None:
            return None
        self.keys[key_id] = replace(key, revoked_at=at)
        return self._joined(self.keys[key_id])

    def touch_key(self, key_id: UUID, at: datetime) -> None:
        if key_id in self.keys:
            self.keys[key_id] = replace(self.keys[key_id], last_used_at=at)

    # --- projects
    def list_projects(self) -> list[Project]:
        return sorted(self.projects.values(), key=lambda p: p.slug)

    def get_project(self, slug: str) -> Project | None:
        return self.projects.get(slug)

    def create_project(self, project: Project) -> Project:
        with self._lock:
            if project.slug in self.projects:
                raise ConflictError(f"project {project.slug!r} exists", code="project_exists")
            self.projects[project.slug] = project
            return project

    def rename_project(self, slug: str, name: str) -> Project | None:
        if slug not in self.projects:
            return None
        self.projects[slug] = replace(self.projects[slug], name=name)
        return self.projects[slug]

    def delete_project(self, slug: str) -> bool:
        with self._lock:
            project = self.projects.pop(slug, None)
            if project is None:
                return False
            self.keys = {k: v for k, v in self.keys.items() if v.project_id != project.id}
            return True

    # --- invites
    def create_invite(self, invite: Invite) -> None:
        self.invites[invite.token_hash] = invite

    def use_invite(self, token_hash: bytes, at: datetime) -> Invite | None:
        with self._lock:
            invite = self.invites.get(token_hash)
            if invite is None or invite.used_at is not None or at >= invite.expires_at:
                return None
            self.invites[token_hash] = replace(invite, used_at=at)
            return self.invites[token_hash]

    def delete_user_invites(self, user_id: UUID) -> None:
        self.invites = {h: i for h, i in self.invites.items() if i.user_id != user_id}

    # --- the audit log
    def add_audit(self, entry: AuditEntry) -> None:
        with self._lock:
            self.audit.append(replace(entry, id=next(self._audit_ids)))

    def list_audit(self, before_id: int | None, limit: int, actions: Sequence[str] = ()) -> list[AuditEntry]:
        rows = [
            e
            for e in reversed(self.audit)
            if (before_id is None or (e.id or 0) < before_id) and (not actions or e.action in actions)
        ]
        return rows[:limit]

    def purge_audit(self, before: datetime) -> int:
        with self._lock:
            kept = [e for e in self.audit if e.at >= before]
            gone = len(self.audit) - len(kept)
            self.audit = kept
            return gone

    # --- run-time settings
    def get_config(self, key: str) -> Any | None:
        return copy.deepcopy(self.config.get(key))

    def set_config(self, key: str, value: Any) -> None:
        self.config[key] = copy.deepcopy(value)

    def set_chat_project(self, slug: str) -> None:
        project = self.projects[slug]
        self.config["chat_project"] = slug
        for key_id, key in list(self.keys.items()):
            if key.kind == "ingest" and key.name == "chat" and key.revoked_at is None:
                self.keys[key_id] = replace(key, project_id=project.id)


# --- ingestion keys -----------------------------------------------------------------------------


class MemoryIngestKeys:
    """``IngestKeys`` over a dict: the keys of the projects, by prefix. ``finds`` counts lookups (a
    cache in front of it is seen working); ``down`` makes every call fail like a database gone."""

    def __init__(self, chat_project: str = "chat") -> None:
        self.keys: dict[str, IngestKey] = {}
        self.revoked: set[str] = set()
        self.touched: list[tuple[UUID, datetime]] = []
        self.chat_project = chat_project
        self.finds = 0
        self.down = False

    def _check(self) -> None:
        if self.down:
            raise StoreError("memory key store is down")

    def add(self, token: str, project: str, *, expires_at: datetime | None = None) -> IngestKey:
        """Store a key of ``project`` (a test's stand-in for the identity API creating one)."""
        prefix = lookup_prefix(token)
        assert prefix is not None, "not an ingestion key"
        key = IngestKey(UUID(bytes=digest(token)[:16]), prefix, project, digest(token), expires_at)
        self.keys[prefix] = key
        return key

    def revoke(self, token: str) -> None:
        prefix = lookup_prefix(token)
        assert prefix is not None
        self.revoked.add(prefix)

    def find(self, prefix: str) -> IngestKey | None:
        self._check()
        self.finds += 1
        return None if prefix in self.revoked else self.keys.get(prefix)

    def touch(self, key_id: UUID, at: datetime) -> None:
        self._check()
        self.touched.append((key_id, at))

    def register(self, token: str, name: str, project: str | None = None) -> IngestKey | None:
        self._check()
        prefix = lookup_prefix(token)
        if prefix is None:
            raise ValueError("a read token cannot be registered as an ingestion key")
        old = self.keys.get(prefix)
        if old is not None and old.secret_hash != digest(token):
            return None
        key = IngestKey(UUID(bytes=digest(token)[:16]), prefix, project or self.chat_project, digest(token))
        self.keys[prefix] = key
        return None if prefix in self.revoked else key

    def ping(self) -> None:
        self._check()


class MemoryDeadLetters:
    """The DeadLetterStore in a dict; ``down`` makes every call fail like S3 out of reach."""

    def __init__(self) -> None:
        self.stored: dict[str, DeadLetter] = {}
        self.down = False

    def put(self, letter: DeadLetter) -> str:
        if self.down:
            raise StoreError("memory dead letters are down")
        self.stored[letter.key] = letter
        return letter.key

    def letters(self, limit: int = 1000) -> list[tuple[str, DeadLetter]]:
        if self.down:
            raise StoreError("memory dead letters are down")
        return sorted(self.stored.items())[:limit]

    def remove(self, key: str) -> None:
        if self.down:
            raise StoreError("memory dead letters are down")
        self.stored.pop(key, None)
