"""The one way the chat calls a model: a streaming LiteLLM call made through prism-sdk.

:class:`ModelGateway` is the seam. :class:`LiteLLMGateway` is the real one: it calls
``acompletion`` (prism-sdk's wrapper when the SDK is installed, so every call ships an inference
event carrying ``conversation_id`` and ``message_id``) and turns provider failures into
:class:`prism.errors.ProviderCallError` with a message a person can act on. Unit tests pass a
fake gateway.

``litellm`` is imported on first use (2+ s), never at module import. Its first call also loads
much more (provider handlers, the tokenizer its cost calculator uses: another second or more), so
:meth:`LiteLLMGateway.warm` makes one streaming call through LiteLLM's OpenAI path to an in-memory
HTTP transport (no network, nothing logged), and a turn waits for the warm-up to finish before its
clock starts (``CallOutcome.started_at``): the first turn's TTFT is the provider's, not LiteLLM's.

Every call to a configured ``base_url`` goes through an HTTP client of the gateway's
:class:`chat.egress.EgressPolicy`: it connects only to addresses the policy allows (checked at
connect time, for every address the host resolves to) and follows no redirect. Any failure to
connect, whatever its cause, is the one ``provider_unreachable`` error. (The demo server and the
first-party providers' own endpoints, which no caller chose, use LiteLLM's client.)
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import threading
import time
import uuid
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Protocol
from uuid import UUID

from starlette.concurrency import run_in_threadpool

from chat.catalog import CATALOG, DEMO_PROVIDER, litellm_model
from chat.egress import EgressPolicy
from chat.errors import ProviderCallError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelCall:
    """One streaming call. ``api_key`` is plaintext in memory only: never logged, never returned."""

    provider: str
    model: str
    messages: list[dict[str, str]]
    conversation_id: str
    message_id: str
    api_key: str | None = field(default=None, repr=False)
    api_base: str | None = None
    read_timeout_s: float = 30.0

    @property
    def litellm_model(self) -> str:
        return litellm_model(self.provider, self.model)

    @property
    def provider_label(self) -> str:
        if self.provider == DEMO_PROVIDER:
            return "The demo model"
        info = CATALOG.get(self.provider)
        return info.label.split(" (")[0] if info else self.provider


@dataclass
class CallOutcome:
    """What is known once the stream ended (or was stopped)."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    cost_usd: float | None = None
    finish_reason: str | None = None
    inference_event_id: UUID | None = None
    # ``time.perf_counter()`` when the request was handed to LiteLLM (after any warm-up): a turn's
    # TTFT and latency count from here
    started_at: float | None = None


class ModelStream(Protocol):
    """Text deltas as the provider sends them; ``outcome`` is complete after the last one."""

    outcome: CallOutcome

    def __aiter__(self) -> AsyncIterator[str]: ...

    async def aclose(self) -> None: ...


class ModelGateway(Protocol):
    @property
    def uses_sdk(self) -> bool:
        """Whether its calls are logged through prism-sdk (the chat then watches the SDK's delivery)."""
        ...

    async def stream(self, call: ModelCall) -> ModelStream:
        """Start the call; raises ProviderCallError when the provider refuses it."""
        ...

    async def flush(self) -> None:
        """Ship what the gateway has queued (on Lambda, after each reply); nothing to do: return."""
        ...

    def warm_in_background(self) -> None:
        """Start slow imports now, off the request path (run at startup); nothing to do: return."""
        ...

    async def ready(self) -> None:
        """Wait until a call can start at once (the warm-up done). A turn awaits it before its
        timeout starts: a cold process's imports are not the provider's time. Nothing to do: return."""
        ...


def import_litellm() -> Any:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("LITELLM_MODE", "PRODUCTION")  # else litellm loads ./.env into os.environ
    import litellm

    litellm.suppress_debug_info = True
    litellm.telemetry = False
    return litellm


def _warm_chunk(delta: dict[str, str], finish: str | None, usage: dict[str, int] | None = None) -> bytes:
    import json

    chunk: dict[str, Any] = {
        "id": "prism-warm-up",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    if usage is not None:
        chunk["usage"] = usage
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


def warm_up_call(litellm: Any) -> None:
    """One streaming call through LiteLLM's OpenAI path, answered by an in-memory transport, so
    that what LiteLLM loads on its first call (handlers, the tokenizer of its cost calculator) is
    loaded now. Runs its own event loop: call it from a thread without one."""
    import httpx
    from openai import AsyncOpenAI

    body = (
        _warm_chunk({"role": "assistant", "content": "ok"}, None)
        + _warm_chunk({}, "stop", {"prompt_tokens": 2, "completion_tokens": 1, "total_tokens": 3})
        + b"data: [DONE]\n\n"
    )

    def answer(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    async def run() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as mock:
            http: Any = mock  # (the openai package types its own httpx)
            client = AsyncOpenAI(
                api_key="warm-up", base_url="http://warm-up.invalid/v1", http_client=http, max_retries=0
            )
            stream = await litellm.acompletion(
                model="openai/gpt-4o-mini",
                messages=[{"role": "user", "content": "warm up"}],
                stream=True,
                stream_options={"include_usage": True},
                api_key="warm-up",
                api_base="http://warm-up.invalid/v1",
                client=client,
                num_retries=0,
            )
            async for _ in stream:
                pass

    asyncio.run(run())


# --- provider errors ----------------------------------------------------------------------------


def _scrub(text: str, secret: str | None) -> str:
    if secret and len(secret) >= 4:
        text = text.replace(secret, "[API_KEY]")
    return text


_CONNECTION_ERRORS = frozenset(
    {"APIConnectionError", "ConnectError", "ConnectionRefusedError", "RemoteProtocolError", "ReadError"}
)
# Failures to connect that must not read as anything else: refused by the egress policy (or a
# redirect), or no answer to the connect. Which one it was is in the server log only.
_UNREACHABLE = frozenset({"EgressRefusedError", "ConnectTimeout"})


# LiteLLM's wrapping of a provider's answer: "litellm.InternalServerError: InternalServerError:
# OpenAIException - <the provider's message>". Only the provider's message is worth showing.
_LITELLM_PREFIX = re.compile(r"^(?:\s*(?:litellm\.)?[A-Za-z]+(?:Error|Exception)\s*(?::|-)\s*)+")


def clean_detail(text: str) -> str:
    """The provider's own words from a LiteLLM error message (LiteLLM's class names cut off)."""
    detail = _LITELLM_PREFIX.sub("", text).strip()
    if detail.startswith("{") and '"message"' in detail:
        import json

        try:
            body = json.loads(detail)
            inner = body.get("error", body) if isinstance(body, dict) else None
            message = inner.get("message") if isinstance(inner, dict) else None
            if isinstance(message, str) and message.strip():
                detail = message.strip()
        except ValueError:
            pass
    if len(detail) > 300:
        detail = detail[:300] + "…"
    return detail


def _status_words(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def _chain(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and len(out) < 8:
        out.append(seen)
        seen = seen.__cause__ or seen.__context__
    return out


def _is_connection_failure(exc: BaseException) -> bool:
    """LiteLLM reports a refused or cut connection as a 500 "Connection error": look down the chain."""
    for seen in _chain(exc):
        if type(seen).__name__ in _CONNECTION_ERRORS or isinstance(seen, ConnectionError):
            return True
        if "connection error" in str(seen).lower():
            return True
    return False


def _unreachable(call: ModelCall) -> ProviderCallError:
    where = f" at {call.api_base}" if call.api_base else ""
    return ProviderCallError(
        f"Could not reach {call.provider_label}{where}: the connection failed or was cut off. "
        "Check that the endpoint is running and reachable, then try again.",
        code="provider_unreachable",
    )


def _retry_after(exc: BaseException) -> str | None:
    headers = getattr(getattr(exc, "response", None), "headers", None)
    try:
        value = headers.get("retry-after") if headers is not None else None
    except Exception:
        return None
    return value if isinstance(value, str) and value.strip().isdigit() else None


def provider_error(exc: BaseException, call: ModelCall) -> ProviderCallError:
    """Map a LiteLLM/httpx failure onto a message a person can act on (never containing the key)."""
    name = type(exc).__name__
    status = getattr(exc, "status_code", None)
    status = status if isinstance(status, int) else None
    who = call.provider_label
    where = f" at {call.api_base}" if call.api_base else ""
    detail = clean_detail(_scrub(str(getattr(exc, "message", None) or exc), call.api_key))
    said = f": {detail}" if detail else ""
    if any(type(seen).__name__ in _UNREACHABLE for seen in _chain(exc)):
        return _unreachable(call)
    if name in ("AuthenticationError", "CallerCredentialAuthenticationError") or status == 401:
        return ProviderCallError(
            f"{who} refused the API key (401). Check the key for '{call.provider}' in Settings.",
            code="provider_auth_failed",
            upstream_status=401,
        )
    if name == "PermissionDeniedError" or status == 403:
        return ProviderCallError(
            f"{who} refused access to model '{call.model}' (403). Check the key's permissions.",
            code="provider_forbidden",
            upstream_status=403,
        )
    if name in ("RateLimitError", "CallerCredentialRateLimitError") or status == 429:
        retry_after = _retry_after(exc)
        wait = f"Wait {retry_after} s" if retry_after else "Wait a moment"
        return ProviderCallError(
            f"{who} is rate-limiting requests (429). {wait} and try again, or pick another model.",
            code="provider_rate_limited",
            upstream_status=429,
        )
    if "Timeout" in name or "TimeoutError" in name or status == 408:
        return ProviderCallError(
            f"{who} did not answer in time (timed out after {call.read_timeout_s:g} s without data). "
            "Try again, or pick another model.",
            code="provider_timeout",
            upstream_status=status,
        )
    if name == "ContextWindowExceededError":
        return ProviderCallError(
            f"The conversation is too long for model '{call.model}'. Start a new conversation "
            "or pick a model with a larger context window.",
            code="context_too_long",
            upstream_status=400,
        )
    if name == "NotFoundError" or status == 404:
        return ProviderCallError(
            f"{who}{where} does not know model '{call.model}' (404). Pick another model or check the "
            "provider settings.",
            code="model_not_found",
            upstream_status=404,
        )
    if _is_connection_failure(exc):
        return _unreachable(call)
    if status is not None and status >= 500:
        return ProviderCallError(
            f"{who} answered {_status_words(status)}{said}. Try again in a moment, or pick another model.",
            code="provider_unavailable",
            upstream_status=status,
        )
    return ProviderCallError(
        f"{who} answered {_status_words(status)}{said}" if status else f"{who} returned an error{said}",
        code="provider_error",
        upstream_status=status,
    )


# --- the LiteLLM gateway ------------------------------------------------------------------------

Acompletion = Callable[..., Awaitable[Any]]


class _LiteLLMStream:
    def __init__(self, response: Any, call: ModelCall, litellm: Any, outcome: CallOutcome) -> None:
        self._response = response
        self._call = call
        self._litellm = litellm
        self.outcome = outcome

    def __aiter__(self) -> AsyncIterator[str]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[str]:
        try:
            async for chunk in self._response:
                usage = getattr(chunk, "usage", None)
                if usage is not None:
                    self._take_usage(usage)
                for choice in getattr(chunk, "choices", None) or []:
                    if getattr(choice, "finish_reason", None):
                        self.outcome.finish_reason = choice.finish_reason
                    delta = getattr(choice, "delta", None)
                    text = getattr(delta, "content", None) if delta is not None else None
                    if text:
                        yield text
        except ProviderCallError:
            raise
        except Exception as exc:
            raise provider_error(exc, self._call) from None
        self._price()

    def _take_usage(self, usage: Any) -> None:
        for name in ("prompt_tokens", "completion_tokens", "total_tokens"):
            value = getattr(usage, name, None)
            if isinstance(value, int):
                setattr(self.outcome, name, value)

    def _price(self) -> None:
        if self._call.provider == DEMO_PROVIDER:
            self.outcome.cost_usd = 0.0
            return
        out = self.outcome
        if out.cost_usd is not None:  # priced by prism-sdk
            return
        if out.prompt_tokens is None and out.completion_tokens is None:
            return
        try:
            prompt_cost, completion_cost = self._litellm.cost_per_token(
                model=self._call.litellm_model,
                prompt_tokens=out.prompt_tokens or 0,
                completion_tokens=out.completion_tokens or 0,
            )
            out.cost_usd = float(prompt_cost) + float(completion_cost)
        except Exception:  # no price known for this model (local / custom endpoints)
            out.cost_usd = None

    async def aclose(self) -> None:
        close = getattr(self._response, "aclose", None)
        if close is not None:
            await close()


class LiteLLMGateway:
    """Streams through ``acompletion``: prism-sdk's wrapper when installed (see :func:`sdk_acompletion`),
    passing the conversation and message ids as Prism context and reading back the event it logged.
    """

    def __init__(
        self, acompletion: Acompletion | None = None, *, sdk: bool | None = None, egress: EgressPolicy | None = None
    ) -> None:
        if acompletion is None:
            acompletion = sdk_acompletion()
            sdk = acompletion is not None if sdk is None else sdk
        self._acompletion = acompletion
        self._sdk = bool(sdk)
        self._litellm: Any = None
        self._warm_lock = threading.Lock()
        self.egress = egress if egress is not None else EgressPolicy()
        # One guarded connection pool per event loop (a pool's connections belong to their loop).
        self._pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[Any, Any]] = weakref.WeakKeyDictionary()

    def _guarded_clients(self) -> tuple[Any, Any]:
        """This loop's guarded ``httpx.AsyncClient`` (for the OpenAI SDK) and LiteLLM handler."""
        loop = asyncio.get_running_loop()
        pair = self._pools.get(loop)
        if pair is None or pair[0].is_closed:
            import httpx
            from litellm.llms.custom_httpx.http_handler import AsyncHTTPHandler

            handler = AsyncHTTPHandler(transport=self.egress.transport(), follow_redirects=False)
            pair = (self.egress.http_client(timeout=httpx.Timeout(None)), handler)
            self._pools[loop] = pair
        return pair

    def _client_for(self, call: ModelCall, api_key: str | None) -> Any:
        """The client LiteLLM calls the provider through: a guarded one for every base URL a
        caller configured; None (LiteLLM's own) for the demo server and for OpenAI's, Anthropic's
        and Gemini's own endpoints, which no caller chose."""
        if call.provider == DEMO_PROVIDER or not call.api_base:
            return None
        http, handler = self._guarded_clients()
        if CATALOG[call.provider].litellm_prefix == "openai":  # the OpenAI SDK: openai, openai_compatible
            from openai import AsyncOpenAI

            return AsyncOpenAI(
                api_key=api_key, base_url=call.api_base, http_client=http, max_retries=0, timeout=call.read_timeout_s
            )
        return handler  # LiteLLM's own HTTP handler: anthropic, gemini

    @property
    def uses_sdk(self) -> bool:
        return self._sdk

    def warm(self) -> None:
        """Import LiteLLM and make one warm-up call (:func:`warm_up_call`) now rather than on the
        first chat turn. Thread-safe; a turn waits for it. Call it from a thread without an event loop."""
        with self._warm_lock:
            if self._litellm is None:
                litellm = import_litellm()
                started = time.perf_counter()
                try:
                    warm_up_call(litellm)
                except Exception:  # only slower: the first turn then loads what is missing
                    log.warning("LiteLLM warm-up call failed", exc_info=True)
                log.info("LiteLLM warmed up in %.2f s", time.perf_counter() - started)
                if self._acompletion is None:
                    self._acompletion = litellm.acompletion
                self._litellm = litellm

    async def flush(self) -> None:
        """Ship the SDK's queued events now, waiting at most 3 s (a Lambda environment may freeze
        once the response ends)."""
        if self._sdk:
            import prism_sdk

            await run_in_threadpool(prism_sdk.flush, 3.0)

    def warm_in_background(self) -> None:
        if self._litellm is None:
            threading.Thread(target=self.warm, name="prism-chat-warm", daemon=True).start()

    async def ready(self) -> None:
        if self._litellm is None:
            await run_in_threadpool(self.warm)

    async def stream(self, call: ModelCall) -> ModelStream:
        await self.ready()
        assert self._acompletion is not None
        kwargs: dict[str, Any] = {
            "model": call.litellm_model,
            "messages": call.messages,
            "stream": True,
            "stream_options": {"include_usage": True},
            "timeout": call.read_timeout_s,
            "num_retries": 0,
            "max_retries": 0,
        }
        if call.api_key:
            kwargs["api_key"] = call.api_key
        elif call.api_base:
            kwargs["api_key"] = "not-needed"  # OpenAI-compatible servers without auth (Ollama, vLLM)
        if call.api_base:
            kwargs["api_base"] = call.api_base
        client = self._client_for(call, kwargs.get("api_key"))
        if client is not None:
            kwargs["client"] = client
        outcome = CallOutcome()
        if self._sdk:
            # The event's id is chosen here, so the reply can carry it at once; the SDK builds the
            # event (and prices it) on its own thread, off the reply's path. The reply is priced
            # from the streamed usage by ``_price``.
            outcome.inference_event_id = uuid.uuid4()
            kwargs["prism"] = {
                "conversation_id": call.conversation_id,
                "message_id": call.message_id,
                "tags": ["chat", "demo"] if call.provider == DEMO_PROVIDER else ["chat"],
                "metadata": {"chat_provider": call.provider},
                "event_id": str(outcome.inference_event_id),
                # the chat's provider, not LiteLLM's: an OpenAI-compatible server is not OpenAI
                "provider": call.provider,
            }
        outcome.started_at = time.perf_counter()
        try:
            response = await self._acompletion(**kwargs)
        except ProviderCallError:
            raise
        except Exception as exc:
            raise provider_error(exc, call) from None
        return _LiteLLMStream(response, call, self._litellm, outcome)


def sdk_acompletion() -> Acompletion | None:
    """prism-sdk's ``acompletion`` wrapper, or None when the SDK is not installed."""
    try:
        import prism_sdk
    except ImportError:
        return None
    wrapper = getattr(prism_sdk, "acompletion", None)
    return wrapper if callable(wrapper) else None
