"""Request and response bodies of the chat API (they are the OpenAPI schema at ``/docs``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, SecretStr, field_validator

from chat.egress import EgressPolicy
from chat.model import ChatMessage, Conversation, MessageRole, MessageStatus

# PostgreSQL text cannot hold NUL characters: they are refused here (422), not by the database.
NO_NUL = r"^[^\x00]*$"
# No whitespace, whichever regex engine reads the pattern: ``\s`` differs between pydantic (Rust),
# Python and ECMA-262 (OpenAPI clients) on U+001C-U+001F, U+0085 and U+FEFF, so they are listed too.
NO_SPACE_OR_NUL = r"^[^\s\x00\x1c-\x1f\x85\ufeff]+$"
Title = Annotated[str, Field(max_length=200, pattern=NO_NUL)]
ModelName = Annotated[str, Field(min_length=1, max_length=200, pattern=NO_SPACE_OR_NUL)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateConversation(_In):
    title: Title | None = Field(default=None, description="Left empty, the first message names it")


class RenameConversation(_In):
    title: Title = Field(min_length=1)

    @field_validator("title")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("title must not be blank")
        return v.strip()


class SendMessage(_In):
    content: str = Field(min_length=1, max_length=200_000, pattern=NO_NUL, description="The user's message")
    model: str = Field(
        min_length=1,
        max_length=300,
        pattern=NO_SPACE_OR_NUL,
        description="A model id from GET /api/models, e.g. 'openai/gpt-4o-mini'",
    )

    @field_validator("content")
    @classmethod
    def _content_not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("content must not be blank")
        return v


class PutProvider(_In):
    api_key: SecretStr | None = Field(
        default=None,
        description="The provider's API key; omitted keeps the stored one, empty removes it. Never returned.",
    )
    base_url: AnyHttpUrl | None = Field(
        default=None,
        description="Endpoint base URL (required for openai_compatible, e.g. http://localhost:11434/v1; for OpenAI, "
        "Anthropic and Gemini only when PRISM_ALLOW_CUSTOM_BASE_URLS is on). Changing it needs api_key again.",
    )
    models: list[ModelName] | None = Field(
        default=None,
        max_length=500,
        description="The models to offer; default: the provider's usual models, or what the endpoint lists",
    )

    @field_validator("base_url")
    @classmethod
    def _not_link_local(cls, v: AnyHttpUrl | None) -> AnyHttpUrl | None:
        # No model server lives on a link-local address; the cloud's instance-metadata service does.
        # (Private and loopback hosts depend on PRISM_ALLOW_PRIVATE_PROVIDER_HOSTS: checked on PUT, and
        # every address a host resolves to is checked again when a connection is opened.)
        if v is not None and EgressPolicy(allow_private=True).refusal(v.host or "") is not None:
            raise ValueError("base_url must not point at a link-local or cloud metadata address")
        return v

    @field_validator("api_key")
    @classmethod
    def _key_shape(cls, v: SecretStr | None) -> SecretStr | None:
        if v is None:
            return None
        raw = v.get_secret_value().strip()
        if len(raw) > 1000:
            raise ValueError("api_key is too long (at most 1000 characters)")
        if any(c.isspace() or not c.isprintable() for c in raw):
            raise ValueError("api_key must not contain spaces, line breaks or control characters")
        return SecretStr(raw)


# --- responses -----------------------------------------------------------------------------------


class ConversationOut(BaseModel):
    id: UUID
    title: str
    model: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, c: Conversation) -> ConversationOut:
        return cls(id=c.id, title=c.title, model=c.model, created_at=c.created_at, updated_at=c.updated_at)


class Usage(BaseModel):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None


class MessageError(BaseModel):
    code: str | None
    message: str | None


class MessageOut(BaseModel):
    id: UUID
    role: MessageRole
    content: str
    status: MessageStatus
    created_at: datetime
    model: str | None = None
    provider: str | None = None
    usage: Usage | None = None
    cost_usd: float | None = None
    latency_ms: float | None = None
    ttft_ms: float | None = None
    error: MessageError | None = None
    inference_event_id: UUID | None = Field(default=None, description="The inference event of this reply")

    @classmethod
    def of(cls, m: ChatMessage) -> MessageOut:
        r = m.reply
        return cls(
            id=m.id,
            role=m.role,
            content=m.content,
            status=m.status,
            created_at=m.created_at,
            model=m.model,
            provider=m.provider,
            usage=Usage(
                prompt_tokens=r.prompt_tokens,
                completion_tokens=r.completion_tokens,
                total_tokens=r.total_tokens,
            )
            if m.role == "assistant"
            else None,
            cost_usd=r.cost_usd,
            latency_ms=r.latency_ms,
            ttft_ms=r.ttft_ms,
            error=MessageError(code=r.error_code, message=r.error_message) if m.status == "error" else None,
            inference_event_id=r.inference_event_id,
        )


class ConversationDetail(ConversationOut):
    messages: list[MessageOut]


class ConversationPage(BaseModel):
    items: list[ConversationOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null on the last page")


class CancelResult(BaseModel):
    cancelled: bool
    message_ids: list[UUID]


ProviderStateName = Literal["working", "failing", "not_configured"]


class ModelOut(BaseModel):
    id: str = Field(description="Pass as 'model' when sending a message")
    name: str
    label: str
    demo: bool = False


class ModelGroupOut(BaseModel):
    provider: str
    label: str
    models: list[ModelOut]
    error: str | None = Field(default=None, description="Why the list may be incomplete")
    state: ProviderStateName = Field(default="working", description="The provider's last connection check")
    reason: str | None = Field(default=None, description="Why the provider is failing, in plain words")


class ModelsOut(BaseModel):
    providers: list[ModelGroupOut]
    default_model: str | None


class ProviderOut(BaseModel):
    id: str
    label: str
    configured: bool
    key_required: bool
    base_url_required: bool
    has_key: bool
    key_last4: str | None = Field(description="The only part of the key ever shown")
    base_url: str | None
    models: list[str]
    updated_at: datetime | None
    state: ProviderStateName = Field(
        description="working: its models were listed with the saved key; failing: see reason; not_configured"
    )
    reason: str | None = Field(default=None, description="Why it is failing (or not configured), in plain words")
    checked_at: datetime | None = Field(default=None, description="When the connection was last checked")


class ProvidersOut(BaseModel):
    providers: list[ProviderOut]
    demo_model: bool = Field(description="Whether the offline demo model is offered")
    creds_key_configured: bool = Field(description="Whether PRISM_CREDS_KEY is set (needed to store keys)")


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="allow")

    code: str = Field(description="Machine-readable, e.g. 'conversation_not_found', 'validation_error'")
    message: str = Field(description="What is wrong, for a person")


class ErrorOut(BaseModel):
    """The body of every 4xx and 5xx answer."""

    error: ErrorDetail


ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "The body cannot be parsed",
    404: "Not found",
    422: "Invalid parameters or body",
    429: "Too many chat turns from this caller (PRISM_RATE_LIMIT_CHAT_TURNS); retry after Retry-After seconds",
    503: "A dependency (the app database, PRISM_CREDS_KEY) is unavailable; retry or fix the configuration",
}


def error_responses(*statuses: int, **descriptions: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for error answers, all in the ``{"error": {"code", "message"}}`` shape.

    Declaring 422 here also replaces FastAPI's default ``HTTPValidationError``, which is not what the
    app sends. ``descriptions`` override per status: ``error_responses(404, s404="...")``.
    """
    return {
        status: {"model": ErrorOut, "description": descriptions.get(f"s{status}", ERROR_DESCRIPTIONS[status])}
        for status in statuses
    }


SSE_DESCRIPTION = """Server-sent events, in this order:

- `start`: `{conversation_id, user_message_id, message_id, assistant_message_id, model, provider, title}`
  (`message_id` is the assistant message being streamed; both messages are already stored)
- `delta`: `{content}`, one per chunk, as the provider sends them
- then exactly one of
  - `done`: `{conversation_id, message_id, status, model, usage: {prompt_tokens, completion_tokens,
    total_tokens}, cost_usd, latency_ms, ttft_ms, finish_reason, inference_event_id}` with `status`
    `complete`, or `cancelled` (plus `cancel_reason`) when stopped through `POST .../cancel`;
  - `error`: the same fields plus `{code, message}` (`provider_auth_failed`, `provider_rate_limited`,
    `provider_timeout`, `provider_unreachable`, `model_not_found`, `context_too_long`,
    `provider_unavailable`, `provider_error`), `status` `error`.

Closing the stream does not stop the reply: it goes on and is stored when it ends. Follow it again
with `GET /api/conversations/{id}/messages/{message_id}/stream`; stop it with `POST .../cancel`."""

FOLLOW_DESCRIPTION = """Server-sent events, in this order:

- `start`: `{conversation_id, message_id, model, provider}`
- `delta`: `{content}`: first the text stored so far (after `offset`), then what is written next;
  each has an `id`, the reply's length in characters once applied (resume with `Last-Event-ID` or
  `?offset=`)
- then `done` or `error`, as for `POST .../messages` (from the stored reply; `finish_reason` null)."""


def follow_doc() -> dict[int | str, dict[str, Any]]:
    return {
        200: {"description": FOLLOW_DESCRIPTION, "content": {"text/event-stream": {"schema": {"type": "string"}}}},
        **error_responses(404, 422, 503, s404="Unknown conversation or reply"),
    }


def sse_doc() -> dict[int | str, dict[str, Any]]:
    return {
        200: {"description": SSE_DESCRIPTION, "content": {"text/event-stream": {"schema": {"type": "string"}}}},
        **error_responses(
            400, 404, 422, 429, 503, s404="Unknown conversation", s422="Unknown model, or missing/blank content"
        ),
    }
