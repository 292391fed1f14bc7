"""One error hierarchy. Adapters wrap driver errors in these; each app maps them to HTTP once.

A function's own errors (e.g. :mod:`chat.errors`) subclass these."""

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


class BadRecordError(ValidationFailedError, ValueError):
    """A bus record (or a row made of one) that can never be written (poison): it goes to the dead
    letters. Still a ``ValueError``, as the parsers that raise it are."""

    code = "bad_record"
