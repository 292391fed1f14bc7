"""LiteLLM integration: ``completion``/``acompletion`` wrappers and the ``PrismLogger`` callback.

LiteLLM is imported lazily, the first time a wrapper or the callback is used.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections import OrderedDict
from collections.abc import Mapping
from time import perf_counter_ns as _clock
from typing import Any

from ._context import PrismOptions, _current, current, merge
from ._event import CallRecord

_lock = threading.Lock()
_litellm: Any = None
_stream_cls: Any = None  # the caller's stream handle class (a CustomStreamWrapper subclass)
_csw_cls: Any = ()  # LiteLLM's CustomStreamWrapper, once imported
_state: Any = None  # PrismStream._prism.__get__
_set_state: Any = None  # PrismStream._prism.__set__
_new_handle = object.__new__
_usage_support: dict[tuple[str, str | None, str | None], bool] = {}


def import_litellm() -> Any:
    """Import LiteLLM once, with its local price map (no download at import)."""
    global _litellm, _stream_cls, _csw_cls, _state, _set_state
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
                _stream_cls, _csw_cls = _make_stream_class()
                _state = _stream_cls._prism.__get__  # the slot's getter: C speed, no __getattribute__
                _set_state = _stream_cls._prism.__set__
                _litellm = litellm
    return _litellm


_pkg: Any = None  # the prism_sdk package (its default client), once imported


def _client() -> Any:
    global _pkg
    pkg = _pkg
    if pkg is None:
        import prism_sdk as pkg

        _pkg = pkg
    return pkg._default or pkg.get_client()


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
) -> CallRecord:
    """The caller-path part before LiteLLM is called: O(1), references and timestamps only.

    ``kwargs`` is this call's own dict (``**kwargs``): the record keeps it as is, no copy; LiteLLM
    gets its own copy when it is called with ``**kwargs``.
    """
    model = kwargs.get("model", args[0] if args else "")
    messages = kwargs.get("messages", args[1] if len(args) > 1 else None)
    ctx = _current.get()
    if prism:
        ctx = merge(ctx, prism)
    stream = bool(kwargs.get("stream"))
    pkg = _pkg
    client = pkg._default if pkg is not None else None
    rec = CallRecord(client or _client(), model, messages, kwargs, ctx, stream)
    if stream and kwargs.get("stream_options") is None and _asks_usage(str(model), kwargs):
        kwargs["stream_options"] = {"include_usage": True}  # the caller does not see the usage chunk
        rec.injected = True  # and the event does not show it in request.params
    return rec


def _finish_response(rec: CallRecord, resp: Any, is_async: bool) -> Any:
    if isinstance(resp, _csw_cls):
        handle = _new_handle(_stream_cls)  # no __init__ frame: this is on the caller's path
        _set_state(handle, _StreamState(rec, resp, is_async))
        return handle
    # LiteLLM's responses are pydantic models: read the private-attribute dict through its slot
    # (``resp._hidden_params`` goes through pydantic's ``__getattr__``, a few µs)
    priv = getattr(resp, "__pydantic_private__", None)
    hidden = priv.get("_hidden_params") if type(priv) is dict else getattr(resp, "_hidden_params", None)
    if type(hidden) is dict:
        hidden["prism_record"] = rec
    rec.finish("ok", resp)
    return resp


def completion(*args: Any, prism: PrismOptions | Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
    """``litellm.completion`` with the same arguments and result, logged to Prism.

    ``prism=`` takes per-call options (:class:`prism_sdk.PrismOptions`). A stream comes back as a thin
    handle over LiteLLM's own stream: an instance of ``CustomStreamWrapper`` (a subclass) whose
    attributes and methods are LiteLLM's stream's; see ``sdk/README.md``.
    """
    litellm = _litellm if _litellm is not None else import_litellm()
    rec = _prepare(args, kwargs, prism)
    try:
        resp = litellm.completion(*args, **kwargs)
    except BaseException as exc:
        rec.finish_exception(exc)
        raise
    return _finish_response(rec, resp, False)


async def acompletion(
    *args: Any, prism: PrismOptions | Mapping[str, Any] | None = None, **kwargs: Any
) -> Any:
    """``litellm.acompletion`` with the same arguments and result, logged to Prism."""
    litellm = _litellm if _litellm is not None else import_litellm()
    rec = _prepare(args, kwargs, prism)
    try:
        resp = await litellm.acompletion(*args, **kwargs)
    except BaseException as exc:
        rec.finish_exception(exc)
        raise
    return _finish_response(rec, resp, True)


# ---------------------------------------------------------------------------- streams
#
# LiteLLM's stream object sits in a reference cycle (``stream.logging_obj.model_call_details
# ["original_response"] is stream``; its per-chunk logging also queues bound methods on a thread
# pool), so it is freed only by the cyclic garbage collector: a stream merely dropped after a
# ``break`` could go unseen for a long time. The caller therefore gets a small handle instead, which
# nothing else references: when the caller drops it, CPython frees it at once and ``__del__`` logs
# the call as ``cancelled`` (and closes LiteLLM's stream, so the provider stops generating).


class _StreamState:
    """What the caller's stream handle holds: the record and LiteLLM's stream (never the handle)."""

    __slots__ = ("chunks", "injected", "inner", "is_async", "rec", "times")

    def __init__(self, rec: CallRecord, inner: Any, is_async: bool) -> None:
        self.rec = rec
        self.inner = inner
        self.injected = rec.injected
        self.is_async = is_async
        # Per chunk, the caller's path only appends the chunk and its arrival time: the first content
        # chunk (TTFT), the text, the usage... are worked out by the worker thread (CallRecord.build).
        self.chunks = rec.chunks
        self.times = rec.chunk_times = []
        if not rec.provider:
            provider = getattr(inner, "custom_llm_provider", None)
            if provider:
                rec.provider = str(provider)

    def hidden(self, chunk: Any) -> bool:
        """The usage-only chunk we asked for (the caller did not): not passed on."""
        return not getattr(chunk, "choices", None) and getattr(chunk, "usage", None) is not None

    def dropped(self) -> None:
        """The caller let go of the handle: log ``cancelled`` (if still open), close LiteLLM's stream."""
        rec = self.rec
        if rec.status is not None:
            return
        rec.finish("cancelled")
        inner = self.inner
        if getattr(inner, "_closed", False):
            return
        if self.is_async:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return  # no loop in this thread: LiteLLM's stream is closed when Python collects it
            task = loop.create_task(inner.aclose())
            _closing.add(task)
            task.add_done_callback(_closing.discard)
        else:
            inner.close()


_closing: set[Any] = set()  # aclose() tasks of dropped async streams, kept alive until done
# names the handle answers itself (explicit calls such as ``stream.close()`` or ``stream.__next__()``
# go through ``__getattribute__``); everything else is LiteLLM's stream's
_OWN = frozenset(
    {
        "_prism",
        "__class__",
        "__iter__",
        "__aiter__",
        "__next__",
        "__anext__",
        "__enter__",
        "__exit__",
        "__aenter__",
        "__aexit__",
        "close",
        "aclose",
        "__del__",
        "__repr__",
        "__getattribute__",
        "__setattr__",
        "__delattr__",
    }
)


def _make_stream_class() -> tuple[Any, Any]:
    from litellm.litellm_core_utils.streaming_handler import CustomStreamWrapper

    class PrismStream(CustomStreamWrapper):
        """The caller's handle on LiteLLM's stream: forwards everything, observes the chunks.

        ``isinstance(handle, CustomStreamWrapper)`` holds; every attribute read, write and method call
        other than iteration and closing goes to LiteLLM's stream object.
        """

        __slots__ = ("_prism",)
        _prism: _StreamState

        def __init__(self, state: _StreamState) -> None:  # LiteLLM's __init__ is not run
            object.__setattr__(self, "_prism", state)

        def __getattribute__(self, name: str) -> Any:
            if name in _OWN:
                return object.__getattribute__(self, name)
            return getattr(_state(self).inner, name)

        def __setattr__(self, name: str, value: Any) -> None:
            setattr(_state(self).inner, name, value)

        def __delattr__(self, name: str) -> None:
            delattr(_state(self).inner, name)

        def __iter__(self) -> Any:
            return self

        def __aiter__(self) -> Any:
            return self

        def __next__(self) -> Any:
            st = _state(self)
            while True:
                try:
                    chunk = st.inner.__next__()
                except StopIteration:
                    st.rec.finish("ok")
                    raise
                except BaseException as exc:
                    st.rec.finish_exception(exc)
                    raise
                st.times.append(_clock())
                st.chunks.append(chunk)
                if not st.injected or not st.hidden(chunk):
                    return chunk

        async def __anext__(self) -> Any:
            st = _state(self)
            while True:
                try:
                    chunk = await st.inner.__anext__()
                except StopAsyncIteration:
                    st.rec.finish("ok")
                    raise
                except BaseException as exc:
                    st.rec.finish_exception(exc)
                    raise
                st.times.append(_clock())
                st.chunks.append(chunk)
                if not st.injected or not st.hidden(chunk):
                    return chunk

        def __enter__(self) -> Any:
            return self

        def __exit__(self, *exc_info: object) -> None:
            self.close()

        async def __aenter__(self) -> Any:
            return self

        async def __aexit__(self, *exc_info: object) -> None:
            await self.aclose()

        def close(self) -> None:
            st = _state(self)
            st.rec.finish("cancelled")  # no-op when the stream already ended
            st.inner.close()

        async def aclose(self) -> None:
            st = _state(self)
            st.rec.finish("cancelled")
            await st.inner.aclose()

        def __del__(self) -> None:
            st = _state(self)
            if st.rec.status is None:
                with contextlib.suppress(Exception):  # never raise from a finaliser
                    st.dropped()

        def __repr__(self) -> str:
            return f"<prism_sdk stream handle of {_state(self).inner!r}>"

    PrismStream.__name__ = PrismStream.__qualname__ = "CustomStreamWrapper"
    return PrismStream, CustomStreamWrapper


def record_of(obj: Any) -> CallRecord | None:
    if obj is None:
        return None
    if _stream_cls is not None and type(obj) is _stream_cls:
        st: _StreamState = _state(obj)
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
