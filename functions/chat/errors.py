"""The chat's errors, in the one hierarchy of :mod:`prism.errors` (each app maps them to HTTP once)."""

from __future__ import annotations

from prism.errors import NotFoundError, PrismError, ValidationFailedError


class ConversationNotFoundError(NotFoundError):
    code = "conversation_not_found"


class MessageNotFoundError(NotFoundError):
    code = "message_not_found"


class UnknownModelError(ValidationFailedError):
    """The model is not offered by any configured provider (nor is it the demo model)."""

    code = "unknown_model"


class ProviderNotConfiguredError(NotFoundError):
    code = "provider_not_configured"


class ProviderCallError(PrismError):
    """A model provider failed (bad key, 429, timeout, refused). Sent as an SSE error event."""

    code = "provider_error"
    status = 502

    def __init__(self, message: str, *, code: str | None = None, upstream_status: int | None = None) -> None:
        super().__init__(message, code=code)
        self.upstream_status = upstream_status
