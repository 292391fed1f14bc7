"""What the ingestion routes take from the app: its service, and the bearer check.

The failed-authentication throttle counts per ``caller_address``: the connection's address, always.
Ingestion takes no ``PRISM_VIEWER_ADDRESS_HEADER`` (its ``install_edge`` gets none): SDKs reach it
through its own HTTP API, not through CloudFront, so a ``CloudFront-Viewer-Address`` it received
would be the caller's own word, and a caller could pick a new address for each guess."""

from __future__ import annotations

import hashlib
from typing import Annotated

import anyio.to_thread
from fastapi import Depends, Request
from prism.errors import UnauthorizedError
from prism.http import caller_address
from prism.ratelimit import RateLimiter

from ingestion.keys import KeyResolver
from ingestion.service import IngestionService


def get_service(request: Request) -> IngestionService:
    service: IngestionService = request.app.state.ingestion
    return service


ServiceDep = Annotated[IngestionService, Depends(get_service)]


async def authorize(request: Request, header: str | None) -> str:
    """The bearer key, with rate limits; returns the project the key writes to. An address (or a
    presented key) past its failed attempts is refused before its key is looked at; a valid key gets
    its requests' share. Keys of ``PRISM_API_KEY`` are the ``default`` project's; any other token is
    resolved through the key cache (``ingestion.keys``), the store asked in a worker thread on a miss
    (StoreError, 503, when it cannot be reached: the client retries).
    Called first thing by the route (not as a dependency), so a request's other parameters are
    judged after it, as before."""
    limiter: RateLimiter = request.app.state.limiter
    resolver: KeyResolver = request.app.state.keys
    address = caller_address(request)
    await limiter.check("auth_failures", "address", address, what="failed authentications")
    scheme, _, token = (header or "").partition(" ")
    given = token.strip()
    presented = hashlib.sha256(given.encode()).hexdigest()[:24]  # counters never hold a key
    if scheme.lower() != "bearer" or not given:
        await limiter.hit("auth_failures", "address", address, what="failed authentications")
        raise UnauthorizedError("missing bearer token: send 'Authorization: Bearer <PRISM_API_KEY>'")
    project = resolver.env_project(given.encode())
    if project is None:
        await limiter.check("auth_failures", "key", presented, what="failed authentications")
        hit, project = resolver.cached(given)
        if not hit and resolver.may_be_key(given):  # a token of no key's form is refused without I/O
            project = await anyio.to_thread.run_sync(resolver.resolve, given, limiter=resolver.lookups)
    if project is None:
        await limiter.hit("auth_failures", "address", address, what="failed authentications")
        await limiter.hit("auth_failures", "key", presented, what="failed authentications")
        raise UnauthorizedError("invalid API key")
    await limiter.hit("ingest", "key", presented, what="ingestion requests for this key")
    return project
