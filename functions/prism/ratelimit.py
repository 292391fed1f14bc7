"""Rate limits on what a caller can repeat: failed authentications per address and per key,
ingestion requests per key, chat turns per user. Built on the ``limits`` library (moving-window
counters): ``memory://`` keeps them per process (one local process, or a Lambda instance),
``redis://...`` shares them between every instance.

A limit is spelt as ``limits`` parses it: ``"20/minute"``, ``"600/second"``, several separated by
``;`` (``"10/second;100/minute"``); an empty string turns it off.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping

import limits
import limits.aio.strategies
import limits.storage

from prism.errors import ConfigError, RateLimitedError


class RateLimiter:
    """Named limits over one storage. ``hit`` counts a request and refuses it over the limit;
    ``check`` refuses without counting (used before judging a request, so that refused callers
    are not served at all, e.g. an address past its failed-authentication limit)."""

    def __init__(self, storage_uri: str, rules: Mapping[str, str], *, key_prefix: str = "prism-rl") -> None:
        try:
            self._rules = {name: limits.parse_many(spec) for name, spec in rules.items() if spec.strip()}
        except ValueError as exc:
            raise ConfigError(f"invalid rate limit: {exc}") from exc
        uri = storage_uri if storage_uri.startswith("async+") else f"async+{storage_uri}"
        options: dict[str, str] = {"key_prefix": key_prefix}
        if uri.startswith(("async+redis://", "async+rediss://")):
            options["implementation"] = "redispy"  # redis-py, which Prism already ships
        elif not uri.startswith("async+memory://"):
            raise ConfigError(f"rate limit storage must be memory:// or redis://, not {storage_uri!r}")
        self._storage = limits.storage.storage_from_string(uri, **options)
        self._limiter = limits.aio.strategies.MovingWindowRateLimiter(self._storage)

    async def hit(self, name: str, *who: str, what: str = "requests") -> None:
        for item in self._rules.get(name, ()):
            if not await self._limiter.hit(item, name, *who):
                await self._refuse(item, name, who, what)

    async def check(self, name: str, *who: str, what: str = "requests") -> None:
        for item in self._rules.get(name, ()):
            if not await self._limiter.test(item, name, *who):
                await self._refuse(item, name, who, what)

    async def _refuse(self, item: limits.RateLimitItem, name: str, who: tuple[str, ...], what: str) -> None:
        stats = await self._limiter.get_window_stats(item, name, *who)
        wait = math.ceil(max(0.0, stats.reset_time - time.time()))
        raise RateLimitedError(f"too many {what}: the limit is {item}; retry in {wait} s", retry_after=wait)
