"""AWS Lambda: flush at the end of every invocation (a frozen Lambda otherwise loses its queue)."""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar, cast

F = TypeVar("F", bound=Callable[..., Any])


def _flush(context: Any) -> None:
    from . import get_client

    client = get_client()
    timeout = client.settings.lambda_flush_timeout
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if callable(remaining):
        with contextlib.suppress(Exception):
            timeout = max(0.1, min(timeout, remaining() / 1000.0 - 0.5))
    client.flush(timeout)


def lambda_handler(fn: F) -> F:
    """Decorate a Lambda handler (sync or async) so each invocation ends with ``flush()``.

    The flush waits at most ``PRISM_LAMBDA_FLUSH_TIMEOUT`` seconds, and never past the invocation's
    remaining time minus 0.5 s. With a spool directory (e.g. ``/tmp/prism``) it never waits on a
    retry: while the ingestion API fails, it returns as soon as the invocation's events are on disk
    (a millisecond or so), and a later invocation of the same warm environment replays them.
    """
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def awrapper(event: Any, context: Any = None, *args: Any, **kwargs: Any) -> Any:
            try:
                return await fn(event, context, *args, **kwargs)
            finally:
                _flush(context)

        return cast(F, awrapper)

    @functools.wraps(fn)
    def wrapper(event: Any, context: Any = None, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(event, context, *args, **kwargs)
        finally:
            _flush(context)

    return cast(F, wrapper)
