"""Logging calls made without LiteLLM: a context manager that is also a decorator."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

from ._context import PrismOptions, current, merge
from ._event import CallRecord

F = TypeVar("F", bound=Callable[..., Any])


class LLMCall:
    """One call to log by hand: ``with prism_sdk.llm_call(...) as call:`` or ``@prism_sdk.llm_call(...)``.

    Inside the block, report what happened: ``call.first_token()`` when the first token arrives,
    ``call.set_output(text, finish_reason=..., model=...)``, ``call.set_usage(prompt, completion, ...)``
    and optionally ``call.set_cost(usd)`` (otherwise LiteLLM's price map is used when it is installed).
    An exception escaping the block logs ``error`` (``cancelled`` for task cancellation) and is re-raised.
    As a decorator, a ``str`` return value becomes the output.
    """

    def __init__(
        self,
        *,
        provider: str,
        model: str,
        messages: list[Any] | None = None,
        params: Mapping[str, Any] | None = None,
        tools: list[Any] | None = None,
        stream: bool = False,
        prism: PrismOptions | Mapping[str, Any] | None = None,
        client: Any = None,
    ) -> None:
        self._spec = (provider, model, messages, dict(params or {}), tools, stream, prism, client)
        self.record: CallRecord | None = None

    # -------------------------------------------------------------- reporting
    def _rec(self) -> CallRecord:
        if self.record is None:
            raise RuntimeError("llm_call: use inside its 'with' block")
        return self.record

    def first_token(self) -> None:
        self._rec().first_token()

    def set_output(
        self,
        content: str | None,
        *,
        finish_reason: str | None = None,
        model: str | None = None,
        tool_calls: list[Any] | None = None,
    ) -> None:
        r = self._rec()
        r.output, r.finish_reason, r.response_model, r.tool_calls = content, finish_reason, model, tool_calls

    def set_usage(
        self,
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
        *,
        total_tokens: int | None = None,
        cached_tokens: int | None = None,
        reasoning_tokens: int | None = None,
    ) -> None:
        u = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": total_tokens,
            "prompt_tokens_details": {"cached_tokens": cached_tokens},
            "completion_tokens_details": {"reasoning_tokens": reasoning_tokens},
        }
        self._rec().usage = u

    def set_cost(self, usd: float | None, note: str | None = None) -> None:
        r = self._rec()
        r.cost_usd, r.cost_note = usd, note

    def event(self) -> dict[str, Any] | None:
        """The event once the block has ended."""
        r = self.record
        return r.build() if r is not None and r.finished else None

    # -------------------------------------------------------------- protocol
    def __enter__(self) -> LLMCall:
        from . import get_client

        provider, model, messages, params, tools, stream, prism, client = self._spec
        kwargs: dict[str, Any] = {**params, "tools": tools}
        self.record = CallRecord(
            client or get_client(),
            model,
            messages,
            kwargs,
            merge(current(), prism),
            stream=stream,
            provider=provider,
        )
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        r = self._rec()
        if exc is not None:
            r.finish_exception(exc)
        else:
            r.finish("ok")

    async def __aenter__(self) -> LLMCall:
        return self.__enter__()

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self.__exit__(exc_type, exc, tb)

    def _fresh(self) -> LLMCall:
        c = LLMCall.__new__(LLMCall)
        c._spec, c.record = self._spec, None
        return c

    def __call__(self, fn: F) -> F:
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def awrapper(*args: Any, **kwargs: Any) -> Any:
                with self._fresh() as call:
                    out = await fn(*args, **kwargs)
                    if isinstance(out, str):
                        call.set_output(out)
                    return out

            return cast(F, awrapper)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self._fresh() as call:
                out = fn(*args, **kwargs)
                if isinstance(out, str):
                    call.set_output(out)
                return out

        return cast(F, wrapper)


llm_call = LLMCall
