"""prism-sdk: log every LLM call to Prism without slowing it down or losing it.

Quickstart (``PRISM_INGEST_URL`` and ``PRISM_API_KEY`` set in the environment)::

    import prism_sdk

    response = prism_sdk.completion(model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])
    print(response.choices[0].message.content)
    prism_sdk.flush()

``completion`` / ``acompletion`` take LiteLLM's arguments and return exactly what LiteLLM returns
(streams included), plus an optional ``prism={...}`` keyword (:class:`PrismOptions`). Each call
yields one inference event v1, queued in O(1) and shipped by a background thread.

Other entry points: :func:`context` (Prism context for a block), :func:`event_of` (the event of a
call you just made), :class:`PrismLogger` (a LiteLLM callback), :class:`llm_call` (calls made
without LiteLLM), :func:`lambda_handler` (AWS Lambda), :func:`log`, :func:`flush`,
:func:`shutdown`, :func:`stats`. Settings: ``sdk/README.md``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._call import LLMCall, llm_call
from ._client import Prism
from ._config import ConfigError, Settings
from ._context import EventCallback, PrismOptions, context
from ._event import Buildable
from ._lambda import lambda_handler
from ._litellm import acompletion, completion, record_of
from ._stats import Stats
from ._version import __version__

# The names of the PRISM_* variables (sdk/README.md, "Settings"): importable, not in __all__.
# isort: off
from ._config import (
    ENV_API_KEY as ENV_API_KEY,
    ENV_BATCH_SIZE as ENV_BATCH_SIZE,
    ENV_CAPTURE_CONTENT as ENV_CAPTURE_CONTENT,
    ENV_ENABLED as ENV_ENABLED,
    ENV_FLUSH_INTERVAL as ENV_FLUSH_INTERVAL,
    ENV_INGEST_URL as ENV_INGEST_URL,
    ENV_LAMBDA_FLUSH_TIMEOUT as ENV_LAMBDA_FLUSH_TIMEOUT,
    ENV_MAX_BACKOFF as ENV_MAX_BACKOFF,
    ENV_MAX_QUEUE as ENV_MAX_QUEUE,
    ENV_MAX_UNSPOOLED as ENV_MAX_UNSPOOLED,
    ENV_SPOOL_DIR as ENV_SPOOL_DIR,
    ENV_SPOOL_MAX_BYTES as ENV_SPOOL_MAX_BYTES,
    ENV_TIMEOUT as ENV_TIMEOUT,
    ENV_VARS as ENV_VARS,
)
# isort: on

if TYPE_CHECKING:
    from litellm.integrations.custom_logger import CustomLogger as PrismLogger

__all__ = [
    "ConfigError",
    "EventCallback",
    "LLMCall",
    "Prism",
    "PrismLogger",
    "PrismOptions",
    "Settings",
    "Stats",
    "__version__",
    "acompletion",
    "completion",
    "context",
    "event_of",
    "flush",
    "get_client",
    "init",
    "lambda_handler",
    "llm_call",
    "log",
    "shutdown",
    "stats",
]

_default: Prism | None = None
_default_lock = threading.Lock()


def get_client() -> Prism:
    """The default client, created from ``PRISM_*`` variables on first use."""
    global _default
    client = _default
    if client is None:
        with _default_lock:
            if _default is None:
                try:
                    _default = Prism()
                except ConfigError as exc:  # never break the caller's LLM call over telemetry settings
                    logging.getLogger("prism_sdk").error("prism-sdk disabled: %s", exc)
                    _default = Prism(enabled=False)
            client = _default
    return client


def init(**settings: Any) -> Prism:
    """(Re)configure the default client from arguments (see :class:`Prism`); the old one is shut down."""
    global _default
    with _default_lock:
        old, _default = _default, Prism(**settings)
        new = _default
    if old is not None:
        old.shutdown()
    return new


def log(event: Mapping[str, Any] | Buildable) -> None:
    """Queue one event dict (inference event v1) on the default client. O(1), never raises."""
    get_client().log(event)


def flush(timeout: float | None = 5.0) -> bool:
    """Deliver everything logged so far (default client); True when all of it was delivered.

    False on timeout, or at once (with a spool) when every event is on disk and the ingestion API is
    failing: ``stats().spool_pending`` events then wait in the spool for a replay.
    """
    return get_client().flush(timeout)


def shutdown(timeout: float = 5.0) -> None:
    """Flush and stop the default client (``atexit`` does this too, as a backstop)."""
    if _default is not None:
        _default.shutdown(timeout)


def stats() -> Stats:
    """Counters of the default client: sent, retried, spooled, replayed, dropped (by reason), queued,
    and the state of delivery (spool_pending, failures, last_error...)."""
    return get_client().stats()


def event_of(result: Any) -> dict[str, Any] | None:
    """The event (inference event v1 dict) of a call made with :func:`completion` / :func:`acompletion`.

    ``result`` is the response or the stream the wrapper returned; None while the stream is still
    open (or for objects the wrappers did not return). The dict has ``usage``, ``cost_usd``,
    ``cost_note``, ``ts_start`` / ``ts_first_token`` / ``ts_end``, ``status``, ...; treat it as read-only.
    """
    rec = record_of(result)
    if rec is None or not rec.finished:
        return None
    return rec.build()


def __getattr__(name: str) -> Any:
    if name == "PrismLogger":  # LiteLLM is imported only now
        from ._litellm import make_logger_class

        cls = make_logger_class()
        globals()["PrismLogger"] = cls
        return cls
    raise AttributeError(f"module 'prism_sdk' has no attribute {name!r}")
