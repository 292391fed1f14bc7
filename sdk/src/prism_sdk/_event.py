"""Building inference events v1 (``functions/prism/events.py``) from what a call left behind.

The caller's thread only stores references and timestamps in a :class:`CallRecord`; the dict is
built later, once, by the worker thread (or at once when the caller asks for it).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any, Protocol

from ._context import apply
from ._version import SDK_NAME

SCHEMA_VERSION = 1


class Buildable(Protocol):
    """A call record that becomes an event dict on demand (in the worker thread, or when asked)."""

    def build(self) -> dict[str, Any]: ...


class EventSink(Protocol):
    """Where a finished :class:`CallRecord` goes: a :class:`prism_sdk.Prism` client."""

    capture_content: bool

    def log(self, event: Buildable | Mapping[str, Any]) -> None: ...

#: Request parameters copied into ``request.params`` (a whitelist: credentials never leak).
LOGGED_PARAMS = frozenset(
    {
        "temperature",
        "top_p",
        "top_k",
        "max_tokens",
        "max_completion_tokens",
        "n",
        "stop",
        "presence_penalty",
        "frequency_penalty",
        "seed",
        "response_format",
        "tool_choice",
        "parallel_tool_calls",
        "reasoning_effort",
        "thinking",
        "logprobs",
        "top_logprobs",
        "logit_bias",
        "stream",
        "stream_options",
        "user",
        "timeout",
        "num_retries",
        "modalities",
        "service_tier",
        "verbosity",
        "web_search_options",
    }
)


def rfc3339_ns(ns: int) -> str:
    """UTC RFC 3339 with microseconds, e.g. ``2026-11-27T07:00:00.123456Z``."""
    s, rest = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s)) + f".{rest // 1000:06d}Z"


def to_jsonable(o: Any) -> Any:
    """``json.dumps`` default: datetimes, UUIDs, pydantic models, other objects."""
    if isinstance(o, dt.datetime):
        if o.tzinfo is None:
            o = o.replace(tzinfo=dt.UTC)
        return o.isoformat().replace("+00:00", "Z")
    if isinstance(o, dt.date | uuid.UUID):
        return str(o)
    if isinstance(o, bytes | bytearray):
        return o.decode("utf-8", "replace")
    if isinstance(o, set | frozenset | tuple):
        return list(o)
    dump = getattr(o, "model_dump", None)
    if callable(dump):
        try:
            return dump(exclude_none=True)
        except Exception:  # noqa: S110
            pass
    d = getattr(o, "__dict__", None)
    if isinstance(d, dict):
        return {k: v for k, v in d.items() if not k.startswith("_")}
    return str(o)


def uuid7() -> str:
    """A time-ordered UUID (RFC 9562 version 7): 48 bits of Unix milliseconds, then random bits.

    Event ids made in time order land next to each other in the server's B-tree indexes (the id
    claim table and the primary key) instead of at random pages: cheaper writes as tables grow.
    """
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & 0xFFFF_FFFF_FFFF) << 80 | rand & ((1 << 80) - 1)
    value = value & ~(0xF << 76) | 0x7 << 76  # version 7
    value = value & ~(0x3 << 62) | 0x2 << 62  # variant 10
    return str(uuid.UUID(int=value))


def normalize(ev: dict[str, Any]) -> dict[str, Any]:
    """Fill what a hand-made event may lack (``log(dict)``)."""
    ev.setdefault("schema_version", SCHEMA_VERSION)
    if not ev.get("id"):
        ev["id"] = uuid7()
    ev.setdefault("sdk", SDK_NAME)
    for k in ("ts_start", "ts_first_token", "ts_end"):
        v = ev.get(k)
        if isinstance(v, dt.datetime):
            ev[k] = to_jsonable(v)
    if "ts_end" not in ev and "ts_start" in ev:
        ev["ts_end"] = ev["ts_start"]
    return ev


def serialize(item: Buildable | Mapping[str, Any]) -> bytes:
    """One event as a line of the request body (and of a spool file): compact UTF-8 JSON."""
    ev = item.build() if not isinstance(item, Mapping) else normalize(dict(item))
    return json.dumps(ev, separators=(",", ":"), ensure_ascii=False, default=to_jsonable).encode()


def _get(o: Any, key: str) -> Any:
    if o is None:
        return None
    if isinstance(o, Mapping):
        return o.get(key)
    return getattr(o, key, None)


def _count(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else None


def usage_dict(u: Any) -> dict[str, int]:
    """Prompt, completion, total, cached and reasoning tokens from an OpenAI/LiteLLM usage object."""
    out: dict[str, int] = {}
    if u is None:
        return out
    for k in ("prompt_tokens", "completion_tokens", "total_tokens"):
        v = _count(_get(u, k))
        if v is not None:
            out[k] = v
    cached = _count(_get(_get(u, "prompt_tokens_details"), "cached_tokens"))
    if cached is None:
        cached = _count(_get(u, "cache_read_input_tokens"))
    if cached is not None:
        out["cached_tokens"] = cached
    reasoning = _count(_get(_get(u, "completion_tokens_details"), "reasoning_tokens"))
    if reasoning is not None:
        out["reasoning_tokens"] = reasoning
    if "total_tokens" not in out and "prompt_tokens" in out and "completion_tokens" in out:
        out["total_tokens"] = out["prompt_tokens"] + out["completion_tokens"]
    return out


def message_dict(m: Any, capture: bool) -> dict[str, Any]:
    d = dict(m) if isinstance(m, Mapping) else to_jsonable(m)
    if not isinstance(d, dict):
        d = {"role": "user", "content": str(d)}
    d = {k: v for k, v in d.items() if v is not None}
    if not d.get("role"):
        d["role"] = "unknown"
    if not capture:
        d.pop("content", None)
        for tc in d.get("tool_calls") or ():
            if isinstance(tc, dict) and isinstance(tc.get("function"), dict):
                tc["function"] = {**tc["function"], "arguments": None}
    elif "content" in d and not isinstance(d["content"], str | list):
        d["content"] = str(d["content"])
    return d


def tool_call_dict(tc: Any, capture: bool) -> dict[str, Any]:
    fn = _get(tc, "function")
    args = _get(fn, "arguments")
    return {
        "id": _get(tc, "id"),
        "type": _get(tc, "type") or "function",
        "name": str(_get(fn, "name") or "")[:256],
        "arguments": (args if isinstance(args, str | dict) else None) if capture else None,
    }


SECRET_KWARGS = ("api_key", "aws_secret_access_key", "aws_session_token", "azure_ad_token", "vertex_credentials")


def error_dict(exc: BaseException, secrets: tuple[str, ...] = ()) -> dict[str, Any]:
    """The event's ``error``. Credentials the call was made with are cut out of the message: some
    providers echo the key back in their error text."""
    status = getattr(exc, "status_code", None)
    message = str(exc)
    for secret in secrets:
        message = message.replace(secret, "[SECRET]")
    return {
        "type": type(exc).__name__[:256] or "Error",
        "message": message[:20_000],
        "status_code": status if isinstance(status, int) and 100 <= status <= 599 else None,
    }


def _is_cancellation(exc: BaseException) -> bool:
    return isinstance(exc, asyncio.CancelledError | KeyboardInterrupt | GeneratorExit | SystemExit)


_build_lock = threading.Lock()  # builds are rare and short; one lock instead of one per record


class CallRecord:
    """One LLM call in progress, then finished. ``build()`` turns it into an event dict (once).

    The constructor is on the caller's path: it stores references and two timestamps, nothing more.
    Fields that most calls never set are class-level defaults, so they cost nothing until written.
    """

    # set by the wrappers / ``finish``:
    t_first: int | None = None
    t_end: int | None = None
    provider: str | None = None
    status: str | None = None
    response: Any = None
    error: BaseException | None = None
    injected = False  # the wrapper added stream_options={"include_usage": True}: not logged
    # filled by hand (non-LiteLLM calls) or by the LiteLLM callback:
    output: str | None = None
    response_model: str | None = None
    finish_reason: str | None = None
    tool_calls: list[Any] | None = None
    usage: Any = None
    cost_usd: float | None = None
    cost_note: str | None = None
    extra: dict[str, Any] | None = None
    chunk_times: list[int] | None = None  # perf_counter_ns of each of ``chunks`` (wrapped streams)
    _event: dict[str, Any] | None = None

    def __init__(
        self,
        client: EventSink | None,
        model: Any,
        messages: Any,
        kwargs: Mapping[str, Any],
        ctx: Mapping[str, Any] | None,
        stream: bool = False,
        provider: str | None = None,
    ) -> None:
        self.t0_wall = time.time_ns()
        self.t0 = time.perf_counter_ns()
        self.client = client
        self.model = model
        # a shallow copy (C speed): callers often append the answer to their list right after the call
        t = type(messages)
        self.messages = messages[:] if t is list else list(messages) if t is tuple else []
        self.kwargs = kwargs
        self.ctx = ctx
        self.stream = stream
        self.chunks: list[Any] = []
        if provider:
            self.provider = provider

    # ---------------------------------------------------------------- life cycle
    @property
    def finished(self) -> bool:
        return self.status is not None

    def first_token(self) -> None:
        if self.t_first is None:
            self.t_first = time.perf_counter_ns()

    def finish(
        self, status: str, response: Any = None, error: BaseException | None = None, t_end: int | None = None
    ) -> None:
        """Close the record (first call wins) and hand it to the client. Never raises."""
        if self.status is not None:
            return
        self.t_end = time.perf_counter_ns() if t_end is None else t_end
        self.status = status
        if response is not None:
            self.response = response
        self.error = error
        try:
            if self.client is not None:
                self.client.log(self)
            cb = self.ctx.get("on_event") if self.ctx else None
            if cb is not None:
                cb(self.build())
        except Exception:  # noqa: S110 - telemetry must not break the caller
            pass

    def finish_exception(self, exc: BaseException) -> None:
        self.finish("cancelled" if _is_cancellation(exc) else "error", error=exc)

    # ---------------------------------------------------------------- building
    def build(self) -> dict[str, Any]:
        ev = self._event
        if ev is None:
            with _build_lock:
                ev = self._event
                if ev is None:
                    ev = self._event = self._build()
        return ev

    def _secrets(self) -> tuple[str, ...]:
        kwargs = self.kwargs or {}
        return tuple(v for k in SECRET_KWARGS if isinstance(v := kwargs.get(k), str) and len(v) >= 6)

    def _wall(self, t: int | None) -> str | None:
        return None if t is None else rfc3339_ns(self.t0_wall + (t - self.t0))

    def _build(self) -> dict[str, Any]:
        capture = self.client.capture_content if self.client is not None else True
        end = self.t_end if self.t_end is not None else time.perf_counter_ns()
        if self.t_first is None and self.chunk_times:
            self.t_first = _first_content_time(self.chunks, self.chunk_times)
        first = self.t_first if self.t_first is not None and self.t_first <= end else None
        status = self.status or "cancelled"
        provider = self._provider()
        content, finish, tool_calls, resp_model, usage_obj = self._output()
        usage = usage_dict(usage_obj)
        ev: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "id": str((self.ctx.get("event_id") if self.ctx else None) or uuid7()),
            "ts_start": self._wall(self.t0),
            "ts_first_token": self._wall(first),
            "ts_end": self._wall(end),
            "provider": str((self.ctx.get("provider") if self.ctx else None) or provider)[:256] or "unknown",
            "model": self._model_name(provider)[:256] or "unknown",
            "status": status,
            "usage": usage,
            "request": self._request(capture),
            "sdk": SDK_NAME,
        }
        has_output = content is not None or tool_calls or finish is not None or resp_model is not None
        if status == "ok" or has_output:
            ev["response"] = {
                "model": resp_model,
                "content": content if capture else None,
                "finish_reason": finish,
                "tool_calls": [tool_call_dict(tc, capture) for tc in tool_calls or ()],
            }
        if self.error is not None and status == "error":
            ev["error"] = error_dict(self.error, self._secrets())
        elif status == "error":
            ev["error"] = {"type": "Error", "message": ""}
        ev["cost_usd"], ev["cost_note"] = self._cost(provider, resp_model, usage_obj, usage, status)
        if self.extra:
            ev.update(self.extra)
        apply(ev, self.ctx)
        return ev

    def _provider(self) -> str:
        if self.provider:
            return self.provider
        p = _get(_get(self.response, "_hidden_params"), "custom_llm_provider")
        if not p and self.error is not None:
            p = getattr(self.error, "llm_provider", None)
        if not p:
            p = self.kwargs.get("custom_llm_provider")
        litellm = sys.modules.get("litellm")
        model = str(self.model or "")
        if not p and "/" in model and litellm is not None:
            prefix = model.split("/", 1)[0]
            if prefix in getattr(litellm, "provider_list", ()):
                p = prefix
        if not p and litellm is not None:
            try:
                p = litellm.get_llm_provider(model)[1]
            except Exception:
                p = None
        return str(p or "unknown")

    def _model_name(self, provider: str) -> str:
        m = str(self.model or "")
        if m.startswith(provider + "/"):
            return m[len(provider) + 1 :]
        return m

    def _request(self, capture: bool) -> dict[str, Any]:
        params = {k: v for k, v in self.kwargs.items() if k in LOGGED_PARAMS and v is not None}
        if self.injected:
            params.pop("stream_options", None)
        if self.stream and "stream" not in params:
            params["stream"] = True
        req: dict[str, Any] = {
            "messages": [message_dict(m, capture) for m in self.messages[:10_000]],
            "params": params,
        }
        tools = self.kwargs.get("tools")
        if tools:
            req["tools"] = [to_jsonable(t) if not isinstance(t, dict) else t for t in tools]
        return req

    def _output(self) -> tuple[str | None, str | None, list[Any] | None, str | None, Any]:
        """(content, finish_reason, tool_calls, returned model, usage object)."""
        if self.chunks:
            return _assemble(self.chunks)
        r = self.response
        if r is not None and hasattr(r, "choices"):
            choices = r.choices or []
            msg = _get(choices[0], "message") if choices else None
            content = _get(msg, "content")
            return (
                content if isinstance(content, str) else None,
                _get(choices[0], "finish_reason") if choices else None,
                list(_get(msg, "tool_calls") or []) or None,
                _get(r, "model"),
                _get(r, "usage"),
            )
        return self.output, self.finish_reason, self.tool_calls, self.response_model, self.usage

    def _cost(
        self, provider: str, resp_model: str | None, usage_obj: Any, usage: dict[str, int], status: str
    ) -> tuple[float | None, str | None]:
        if self.cost_usd is not None:
            return float(self.cost_usd), None
        if self.cost_note is not None:
            return None, self.cost_note
        if not usage:
            if status == "cancelled":
                return None, "stream cancelled before the provider reported usage"
            if status == "error":
                return None, "call failed: the provider reported no usage"
            return None, "the provider reported no usage"
        cost = _get(_get(self.response, "_hidden_params"), "response_cost")
        if cost is None:
            cost = _get(usage_obj, "cost")
        if isinstance(cost, int | float) and not isinstance(cost, bool) and cost >= 0:
            return float(cost), None
        litellm = sys.modules.get("litellm")  # never import it here: seconds of CPU in the worker
        if litellm is None:
            return None, "no price: set_cost() was not called and LiteLLM (its price map) is not loaded"
        model = self._model_name(provider)
        try:
            prompt, completion = litellm.cost_per_token(
                model=model,
                custom_llm_provider=provider if provider != "unknown" else None,
                prompt_tokens=usage.get("prompt_tokens", 0),
                completion_tokens=usage.get("completion_tokens", 0),
            )
            return float(prompt) + float(completion), None
        except Exception as exc:
            note = f"no price known for {provider}/{model} in LiteLLM's price map ({type(exc).__name__})"
            return None, note[:500]


def _first_content_time(chunks: list[Any], times: list[int]) -> int | None:
    """When the first chunk with content (or a tool call / reasoning delta) arrived: TTFT."""
    for ch, t in zip(chunks, times, strict=False):
        choices = _get(ch, "choices")
        delta = _get(choices[0], "delta") if choices else None
        if delta is not None and (
            _get(delta, "content") or _get(delta, "tool_calls") or _get(delta, "reasoning_content")
        ):
            return t
    return None


def _assemble(chunks: list[Any]) -> tuple[str | None, str | None, list[Any] | None, str | None, Any]:
    parts: list[str] = []
    finish: str | None = None
    model: str | None = None
    usage: Any = None
    calls: dict[int, dict[str, Any]] = {}
    for ch in chunks:
        model = _get(ch, "model") or model
        u = _get(ch, "usage")
        if u is not None:
            usage = u
        choices = _get(ch, "choices") or ()
        if not choices:
            continue
        c0 = choices[0]
        fr = _get(c0, "finish_reason")
        if fr:
            finish = fr
        delta = _get(c0, "delta")
        text = _get(delta, "content")
        if isinstance(text, str) and text:
            parts.append(text)
        for tc in _get(delta, "tool_calls") or ():
            idx = _get(tc, "index") or 0
            cur = calls.setdefault(
                idx, {"id": None, "type": "function", "function": {"name": "", "arguments": ""}}
            )
            if _get(tc, "id"):
                cur["id"] = _get(tc, "id")
            fn = _get(tc, "function")
            if _get(fn, "name"):
                cur["function"]["name"] += _get(fn, "name")
            if _get(fn, "arguments"):
                cur["function"]["arguments"] += _get(fn, "arguments")
    content = "".join(parts) if parts or finish else None
    tool_calls = [calls[i] for i in sorted(calls)] or None
    return content, finish, tool_calls, model, usage
