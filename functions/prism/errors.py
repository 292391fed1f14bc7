"""One error hierarchy. Adapters wrap driver errors in these; each app maps them to HTTP once."""

from __future__ import annotations


class PrismError(Exception):
    """Base of every error Prism raises on purpose."""

    code = "internal_error"
    status = 500

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class ConfigError(PrismError):
    code = "config_error"


class BadRequestError(PrismError):
    code = "bad_request"
    status = 400


class UnauthorizedError(PrismError):
    code = "unauthorized"
    status = 401


class NotFoundError(PrismError):
    code = "not_found"
    status = 404


class ConflictError(PrismError):
    code = "conflict"
    status = 409


class PayloadTooLargeError(PrismError):
    code = "payload_too_large"
    status = 413


class UnsupportedMediaTypeError(PrismError):
    code = "unsupported_media_type"
    status = 415


class ForbiddenError(PrismError):
    code = "forbidden"
    status = 403


class RequestTimeoutError(PrismError):
    code = "request_timeout"
    status = 408


class RateLimitedError(PrismError):
    """Too many requests of one kind from one caller; ``retry_after`` seconds until the next is let in."""

    code = "rate_limited"
    status = 429

    def __init__(self, message: str, *, retry_after: int, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = max(1, retry_after)


class ValidationFailedError(PrismError):
    code = "validation_error"
    status = 422


class UnavailableError(PrismError):
    """A dependency (bus, database, object store) cannot be reached."""

    code = "unavailable"
    status = 503


class BusError(UnavailableError):
    code = "bus_unavailable"


class StoreError(UnavailableError):
    code = "store_unavailable"


class RawPayloadNotFoundError(NotFoundError):
    code = "raw_payload_not_found"


# --- Chat (appended block owned by the chat function) -----------------------------------------


class ConversationNotFoundError(NotFoundError):
    code = "conversation_not_found"


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
