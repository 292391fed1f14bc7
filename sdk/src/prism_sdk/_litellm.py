"""LiteLLM integration: ``completion``/``acompletion`` wrappers and the ``PrismLogger`` callback.

LiteLLM is imported lazily, the first time a wrapper or the callback is used.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from ._context import PrismOptions, current, merge
from ._event import CallRecord

_lock = threading.Lock()
_litellm: Any = None
_stream_cls: Any = None
_usage_support: dict[tuple[str, str | None, str | None], bool] = {}


def import_litellm() -> Any:
    """Import LiteLLM once, with its local price map (no download at import)."""
    global _litellm, _stream_cls
    if _litellm is None:
        with _lock:
            if _litellm is None:
                os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
                try:
                    import litellm
                except ImportError as exc:  # pragma: no cover
                    raise ImportError(
                        "prism_sdk's LiteLLM wrappers need litellm: pip install 'prism-sdk[litellm]'"
                    ) from exc
                _stream_cls = _make_stream_class()
                _litellm = litellm
    return _litellm


def _client() -> Any:
    from . import get_client

    return get_client()


def _asks_usage(model: str, kwargs: Mapping[str, Any]) -> bool:
    """Whether LiteLLM accepts ``stream_options`` for this model (so we can ask for a usage chunk)."""
    key = (model, kwargs.get("custom_llm_provider"), kwargs.get("api_base"))
    hit = _usage_support.get(key)
    if hit is not None:
        return hit
    ok = False
    try:
        litellm = _litellm
        name, provider, _, _ = litellm.get_llm_provider(
            model, custom_llm_provider=kwargs.get("custom_llm_provider"), api_base=kwargs.get("api_base")
        )
        params = litellm.get_supported_openai_params(model=name, custom_llm_provider=provider) or []
        ok = "stream_options" in params
    except Exception:
        ok = False
    if len(_usage_support) < 10_000:
        _usage_support[key] = ok
    return ok


def _prepare(
    args: tuple[Any, ...], kwargs: dict[str, Any], prism: PrismOptions | Mapping[str, Any] | None
) -> tuple[CallRecord, bool]:
    model = kwargs.get("model", args[0] if args else "")
    messages = kwargs.get("messages", args[1] if len(args) > 1 else None)
    stream = bool(kwargs.get("stream"))
    ctx = merge(current(), prism)
    rec = CallRecord(_client(), str(model), messages, dict(kwargs), ctx, stream=stream)
    injected = False
    if stream and kwargs.get("stream_options") is None and _asks_usage(str(model), kwargs):
        kwargs["stream_options"] = {"include_usage": True}  # the caller does not see the usage chunk
        injected = True
    return rec, injected


def _finish_response(rec: CallRecord, resp: Any, injected: bool) -> Any:
    if _stream_cls is not None and isinstance(resp, _stream_cls.__bases__[0]):
        provider = getattr(resp, "custom_llm_provider", None)
        if provider and not rec.provider:
            rec.provider = str(provider)
        try:
            resp.__class__ = _stream_cls
            resp._prism = _StreamState(rec, injected)
        except TypeError:  # pragma: no cover - a LiteLLM that forbids it: log without stream details
            rec.finish("ok", resp)
        return resp
    hidden = getattr(resp, "_hidden_params", None)
    if isinstance(hidden, dict):
        hidden["prism_record"] = rec
    rec.finish("ok", resp)
    return resp


def completion(*args: Any, prism: PrismOptions | Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
    """``litellm.completion`` with the same arguments and result, logged to Prism.

    ``prism=`` takes per-call options (:class:`prism_sdk.PrismOptions`); streams are returned as
    LiteLLM's own stream object (``CustomStreamWrapper``), instrumented in place.
    """
    litellm = import_litellm()
    rec, injected = _prepare(args, kwargs, prism)
    try:
        resp = litellm.completion(*args, **kwargs)
    except BaseException as exc:
        rec.finish_exception(exc)
        raise
    return _finish_response(rec, resp, injected)


async def acompletion(
    *args: Any, prism: PrismOptions | Mapping[str, Any] | None = None, **kwargs: Any
) -> Any:
    """``litellm.acompletion`` with the same arguments and result, logged to Prism."""
    litellm = import_litellm()
    rec, injected = _prepare(args, kwargs, prism)
    try:
        resp = await litellm.acompletion(*args, **kwargs)
    except BaseException as exc:
        rec.finish_exception(exc)
        raise
    return _finish_response(rec, resp, injected)


class _StreamState:
    __slots__ = ("busy", "injected", "rec")

    def __init__(self, rec: CallRecord, injected: bool) -> None:
        self.rec = rec
        self.injected = injected
        self.busy = False  # inside LiteLLM's __next__: its own close() calls are not the caller's

    def closed_by_caller(self) -> None:
        if not self.busy:
            self.rec.finish("cancelled")

    def observe(self, chunk: Any) -> bool:
        """Record a chunk; False when it is the usage chunk we asked for and the caller did not."""
        rec = self.rec
        rec.chunks.append(chunk)
        choices = getattr(chunk, "choices", None)
        if choices:
            if rec.t_first is None:
                delta = getattr(choices[0], "delta", None)
                if delta is not None and (
                    getattr(delta, "content", None)
                    or getattr(delta, "tool_calls", None)
                    or getattr(delta, "reasoning_content", None)
                ):
                    rec.first_token()
            return True
        return not (self.injected and getattr(chunk, "usage", None) is not None)


def _make_stream_class() -> Any:
    from litellm.litellm_core_utils.streaming_handler import CustomStreamWrapper

    class PrismStream(CustomStreamWrapper):
        """LiteLLM's stream, observed: first content chunk, output, usage, end or abandonment."""

        _prism: _StreamState

        def __next__(self) -> Any:
            st = self._prism
            while True:
                st.busy = True
                try:
                    chunk = super().__next__()
                except StopIteration:
                    st.rec.finish("ok")
                    raise
                except BaseException as exc:
                    st.rec.finish_exception(exc)
                    raise
                finally:
                    st.busy = False
                if st.observe(chunk):
                    return chunk

        async def __anext__(self) -> Any:
            st = self._prism
            while True:
                st.busy = True
                try:
                    chunk = await super().__anext__()
                except StopAsyncIteration:
                    st.rec.finish("ok")
                    raise
                except BaseException as exc:
                    st.rec.finish_exception(exc)
                    raise
                finally:
                    st.busy = False
                if st.observe(chunk):
                    return chunk

        def close(self) -> None:
            st = self.__dict__.get("_prism")
            if st is not None:
                st.closed_by_caller()
            super().close()

        async def aclose(self) -> None:
            st = self.__dict__.get("_prism")
            if st is not None:
                st.closed_by_caller()
            await super().aclose()  # type: ignore[no-untyped-call]

        def __del__(self) -> None:
            st = self.__dict__.get("_prism")
            if st is not None:
                st.rec.finish("cancelled")
            super().__del__()

    PrismStream.__name__ = PrismStream.__qualname__ = "CustomStreamWrapper"
    return PrismStream


def record_of(obj: Any) -> CallRecord | None:
    st = getattr(obj, "__dict__", {}).get("_prism") if obj is not None else None
    if isinstance(st, _StreamState):
        return st.rec
    hidden = getattr(obj, "_hidden_params", None)
    if isinstance(hidden, dict):
        rec = hidden.get("prism_record")
        if isinstance(rec, CallRecord):
            return rec
    return None


# ---------------------------------------------------------------------------- the callback
class _Seen:
    """A small LRU of LiteLLM call ids already logged (LiteLLM may call both sync and async hooks)."""

    def __init__(self, size: int = 4096) -> None:
        self._d: OrderedDict[str, None] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def add(self, key: str) -> bool:
        with self._lock:
            if key in self._d:
                return False
            self._d[key] = None
            if len(self._d) > self._size:
                self._d.popitem(last=False)
            return True


def make_logger_class() -> Any:
    import_litellm()
    from litellm.integrations.custom_logger import CustomLogger

    class PrismLogger(CustomLogger):
        """A LiteLLM callback logging every call to Prism: ``litellm.callbacks = [PrismLogger()]``.

        Prism context comes from ``prism_sdk.context(...)`` blocks and from the call's
        ``metadata={"prism": {...}}``. Do not combine with the wrappers (calls would be logged twice).
        """

        def __init__(self, client: Any = None, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self._prism_client = client
            self._seen = _Seen()

        def _log(self, kwargs: dict[str, Any], response_obj: Any, start: Any, end: Any, ok: bool) -> None:
            with contextlib.suppress(Exception):  # never raise into LiteLLM / the caller
                _log_from_callback(self, kwargs, response_obj, start, end, ok)

        def log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
            self._log(kwargs, response_obj, start_time, end_time, True)

        def log_failure_event(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
            self._log(kwargs, response_obj, start_time, end_time, False)

        async def async_log_success_event(
            self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
        ) -> None:
            self._log(kwargs, response_obj, start_time, end_time, True)

        async def async_log_failure_event(
            self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
        ) -> None:
            self._log(kwargs, response_obj, start_time, end_time, False)

    return PrismLogger


def _ns(t: Any) -> int | None:
    import datetime as dt

    if isinstance(t, dt.datetime):
        if t.tzinfo is None:
            return int(t.timestamp() * 1e9)  # LiteLLM uses naive local datetimes
        return int(t.timestamp() * 1e9)
    if isinstance(t, int | float):
        return int(t * 1e9)
    return None


def _log_from_callback(
    logger: Any, kwargs: dict[str, Any], response_obj: Any, start: Any, end: Any, ok: bool
) -> None:
    slo = kwargs.get("standard_logging_object") or {}
    call_id = str(slo.get("id") or kwargs.get("litellm_call_id") or id(kwargs))
    if not logger._seen.add(call_id):
        return
    litellm_params = kwargs.get("litellm_params") or {}
    meta = litellm_params.get("metadata") or {}
    prism_opts = meta.get("prism") if isinstance(meta, dict) else None
    ctx = merge(current(), prism_opts if isinstance(prism_opts, Mapping) else None)
    client = logger._prism_client or _client()
    params = dict(kwargs.get("optional_params") or {})
    if kwargs.get("stream"):
        params["stream"] = True
    rec = CallRecord(
        client,
        str(kwargs.get("model") or slo.get("model") or ""),
        kwargs.get("messages") or [],
        {**params, "tools": params.get("tools")},
        ctx,
        stream=bool(kwargs.get("stream")),
        provider=slo.get("custom_llm_provider") or litellm_params.get("custom_llm_provider"),
    )
    t0, t_end = _ns(start), _ns(end)
    first = _ns(kwargs.get("completion_start_time"))
    if t0 is not None:
        rec.t0_wall, rec.t0 = t0, 0
        rec.t_end = (t_end - t0) if t_end is not None else None
        if first is not None and kwargs.get("stream") and t0 <= first:
            rec.t_first = first - t0
    if ok:
        resp = kwargs.get("complete_streaming_response") or response_obj
        rec.response = resp
        cost = slo.get("response_cost")
        if isinstance(cost, int | float) and cost >= 0:
            rec.cost_usd = float(cost)
        status = "ok"
        err: BaseException | None = None
    else:
        exc = kwargs.get("exception")
        err = exc if isinstance(exc, BaseException) else RuntimeError(str(slo.get("error_str") or "error"))
        status = "error"
    rec.finish(status, error=err, t_end=rec.t_end)
