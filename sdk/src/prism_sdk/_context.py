"""Prism context (conversation, message, trace, user ids, tags, metadata) for a block or one call."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from typing import Any, TypedDict

EventCallback = Callable[[dict[str, Any]], None]


class PrismOptions(TypedDict, total=False):
    """Per-call Prism options (the ``prism=`` keyword of the wrappers); all optional."""

    conversation_id: str
    message_id: str
    trace_id: str
    span_id: str
    user_id: str
    tags: list[str]
    metadata: dict[str, Any]
    #: Called once with the finished event (a dict, inference event v1), in the thread that ends the call.
    #: It builds the event on the caller's path: to only learn the event's id, pass ``event_id`` instead.
    on_event: EventCallback
    #: The id the event will have (a UUID string), chosen by the caller, e.g. to store it next to
    #: its own record before the call ends. Per call only; default: a new UUIDv7.
    event_id: str
    #: The provider to log, when LiteLLM's name for it is not the real one: an OpenAI-compatible
    #: server (Ollama, vLLM) is called through LiteLLM's ``openai`` provider. Per call only;
    #: default: LiteLLM's provider. (Pricing still uses LiteLLM's provider and model.)
    provider: str


_ID_KEYS = ("conversation_id", "message_id", "trace_id", "span_id", "user_id")
_ALL_KEYS = frozenset((*_ID_KEYS, "tags", "metadata", "on_event", "event_id", "provider"))
_current: ContextVar[Mapping[str, Any] | None] = ContextVar("prism_context", default=None)


def merge(base: Mapping[str, Any] | None, extra: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """Inner values win; tags are concatenated (deduplicated); metadata dicts are merged."""
    if not extra:
        return base
    unknown = set(extra) - _ALL_KEYS
    if unknown:
        raise TypeError(f"unknown Prism option(s): {', '.join(sorted(unknown))}")
    if not base:
        return dict(extra)
    out = dict(base)
    for k, v in extra.items():
        if v is None:
            continue
        if k == "tags":
            out["tags"] = list(dict.fromkeys([*base.get("tags", ()), *v]))
        elif k == "metadata":
            out["metadata"] = {**base.get("metadata", {}), **v}
        else:
            out[k] = v
    return out


def current() -> Mapping[str, Any] | None:
    """The Prism context active here (contextvars: per thread and per asyncio task)."""
    return _current.get()


@contextlib.contextmanager
def context(
    *,
    conversation_id: str | None = None,
    message_id: str | None = None,
    trace_id: str | None = None,
    span_id: str | None = None,
    user_id: str | None = None,
    tags: list[str] | None = None,
    metadata: dict[str, Any] | None = None,
    on_event: EventCallback | None = None,
) -> Iterator[None]:
    """Attach Prism context to every call logged inside the block (nests; works with asyncio).

    Example::

        with prism_sdk.context(conversation_id="c-1", user_id="u-7", tags=["chat"]):
            prism_sdk.completion(model="openai/gpt-4o-mini", messages=[...])
    """
    given = {
        k: v
        for k, v in {
            "conversation_id": conversation_id,
            "message_id": message_id,
            "trace_id": trace_id,
            "span_id": span_id,
            "user_id": user_id,
            "tags": tags,
            "metadata": metadata,
            "on_event": on_event,
        }.items()
        if v is not None
    }
    token = _current.set(merge(_current.get(), given))
    try:
        yield
    finally:
        _current.reset(token)


def apply(event: dict[str, Any], ctx: Mapping[str, Any] | None) -> None:
    """Copy context fields into an event dict (event fields already set win, tags/metadata merge)."""
    if not ctx:
        return
    for k in _ID_KEYS:
        v = ctx.get(k)
        if v is not None and event.get(k) is None:
            event[k] = str(v)
    tags = ctx.get("tags")
    if tags:
        event["tags"] = list(dict.fromkeys([*event.get("tags", ()), *(str(t) for t in tags)]))
    md = ctx.get("metadata")
    if md:
        event["metadata"] = {**md, **event.get("metadata", {})}
