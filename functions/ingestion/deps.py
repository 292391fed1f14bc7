"""What the ingestion routes take from the app: its service, and the bearer check."""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated

from fastapi import Depends, Request
from prism.errors import UnauthorizedError
from prism.http import caller_address
from prism.ratelimit import RateLimiter

from ingestion.service import IngestionService


def get_service(request: Request) -> IngestionService:
    service: IngestionService = request.app.state.ingestion
    return service


ServiceDep = Annotated[IngestionService, Depends(get_service)]


async def authorize(request: Request, header: str | None) -> None:
    """The bearer key, with rate limits: an address (or a presented key) past its failed attempts is
    refused before its key is looked at; a valid key gets its requests' share. Called first thing by
    the route (not as a dependency), so a request's other parameters are judged after it, as before."""
    limiter: RateLimiter = request.app.state.limiter
    keys: list[bytes] = request.app.state.api_keys
    address = caller_address(request)
    await limiter.check("auth_failures", "address", address, what="failed authentications")
    scheme, _, token = (header or "").partition(" ")
    given = token.strip().encode()
    presented = hashlib.sha256(given).hexdigest()[:24]  # counters never hold a key
    if scheme.lower() != "bearer" or not given:
        await limiter.hit("auth_failures", "address", address, what="failed authentications")
        raise UnauthorizedError("missing bearer token: send 'Authorization: Bearer <PRISM_API_KEY>'")
    if not any(hmac.compare_digest(given, k) for k in keys):
        await limiter.check("auth_failures", "key", presented, what="failed authentications")
        await limiter.hit("auth_failures", "address", address, what="failed authentications")
        await limiter.hit("auth_failures", "key", presented, what="failed authentications")
        raise UnauthorizedError("invalid API key")
    await limiter.hit("ingest", "key", presented, what="ingestion requests for this key")
