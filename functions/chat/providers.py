"""Provider credentials and the models they make usable.

Keys arrive in plaintext once (``PUT /api/settings/providers/{provider}``), are encrypted with
:class:`prism.credentials.CredentialCipher` before they reach the store, and are decrypted only in
memory for a model call. Views carry the key's last four characters, never more. Tokens made under
an older ``PRISM_CREDS_KEY`` are re-encrypted under the newest key when read.

A stored key is bound to the endpoint it was entered for (see :mod:`prism.credentials`): a ``PUT``
that changes ``base_url`` without the key again is refused (422 ``api_key_reentry_required``), and a key is
decrypted for a call only at the provider and base URL it was sealed with. OpenAI, Anthropic and
Gemini take no ``base_url`` unless ``PRISM_ALLOW_CUSTOM_BASE_URLS`` is on. Every base URL is checked
against the :class:`chat.egress.EgressPolicy` when it is stored (literal addresses and names) and
again, resolved, whenever a connection is opened.

Each provider has a state (:class:`ProviderState`): ``working`` when listing its models with the
stored key succeeded, ``failing`` with the reason in plain words (the key refused, the endpoint not
reachable) or ``not_configured``. A provider is checked when it is saved and, in a process that has
not checked it yet, when its state is first asked for; the last check is kept in memory for as long
as the stored credential is unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
from prism.clock import Clock, utc_now
from prism.credentials import BoundKey, CredentialCipher, CredentialsKeyMissingError, endpoint_mismatch, last4
from prism.errors import PrismError, ValidationFailedError
from starlette.concurrency import run_in_threadpool

from chat.catalog import (
    CATALOG,
    DEMO_LABEL,
    DEMO_MODEL,
    DEMO_MODEL_ID,
    DEMO_PROVIDER,
    PROVIDERS,
    split_model_id,
)
from chat.egress import EgressPolicy, EgressRefusedError
from chat.errors import ProviderNotConfiguredError, UnknownModelError
from chat.model import StoredCredential
from chat.ports import CredentialStore

log = logging.getLogger(__name__)


def endpoint_of(base_url: str | None) -> str | None:
    """The stored form of a base URL (no trailing slash); None for the provider's own endpoint."""
    return base_url.rstrip("/") if base_url else None


@dataclass(frozen=True)
class ResolvedModel:
    """A model id checked against the configuration, with what a call needs (key in memory only)."""

    model_id: str
    provider: str
    model: str
    api_key: str | None = field(default=None, repr=False)
    api_base: str | None = None


StateName = Literal["working", "failing", "not_configured"]

# Where each provider lists its models (OpenAI-compatible: the stored base_url).
_LISTING_BASE = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com/v1",
    "gemini": "https://generativelanguage.googleapis.com/v1beta",
}


@dataclass(frozen=True)
class ProviderState:
    """The last connection check of a provider: never holds the key."""

    state: StateName
    reason: str | None = None
    checked_at: datetime | None = None


NOT_CONFIGURED = ProviderState("not_configured", "No key or endpoint is saved for this provider.")


def listing_request(provider: str, base_url: str | None, api_key: str | None) -> tuple[str, dict[str, str]]:
    """The URL and headers that list ``provider``'s models with ``api_key``."""
    base = (base_url or _LISTING_BASE.get(provider, "")).rstrip("/")
    if provider == "anthropic":
        if base_url and not base.endswith("/v1"):
            base += "/v1"
        return base + "/models", {"x-api-key": api_key or "", "anthropic-version": "2023-06-01"}
    if provider == "gemini":
        return base + "/models", {"x-goog-api-key": api_key or ""}
    return base + "/models", ({"Authorization": f"Bearer {api_key}"} if api_key else {})


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _connect_words(exc: BaseException) -> str:
    """What a failed connect was, in a few words (never the exception's own text or class)."""
    seen: BaseException | None = exc
    text = ""
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError):
            return "connection refused"
        text += " " + str(seen).lower()
        seen = seen.__cause__ or seen.__context__
    if "refused" in text:
        return "connection refused"
    if "resolve" in text or "name or service" in text or "nodename" in text or "getaddrinfo" in text:
        return "the name does not resolve"
    return "the connection failed"


@dataclass
class ProviderView:
    id: str
    label: str
    configured: bool
    key_required: bool
    base_url_required: bool
    key_last4: str | None = None
    has_key: bool = False
    base_url: str | None = None
    models: list[str] = field(default_factory=list)
    updated_at: datetime | None = None
    state: ProviderState = NOT_CONFIGURED


@dataclass
class ModelGroup:
    provider: str
    label: str
    models: list[dict[str, Any]]
    error: str | None = None
    state: ProviderState = field(default_factory=lambda: ProviderState("working"))


class Providers:
    def __init__(
        self,
        store: CredentialStore,
        cipher: CredentialCipher | None,
        *,
        demo_enabled: bool,
        demo_base_url: Callable[[], str] | None,
        cache_ttl_s: float = 5.0,
        discovery_ttl_s: float = 30.0,
        discovery_timeout_s: float = 3.0,
        egress: EgressPolicy | None = None,
        allow_custom_base_urls: bool = False,
        clock: Clock = utc_now,
    ) -> None:
        self._store = store
        self._clock = clock
        self.egress = egress if egress is not None else EgressPolicy()
        self.allow_custom_base_urls = allow_custom_base_urls
        self._cipher = cipher
        self.demo_enabled = demo_enabled and demo_base_url is not None
        self._demo_base_url = demo_base_url
        self._cache_ttl_s = cache_ttl_s
        self._discovery_ttl_s = discovery_ttl_s
        self._discovery_timeout_s = discovery_timeout_s
        self._creds: dict[str, StoredCredential] | None = None
        self._creds_at = 0.0
        self._plain: dict[str, BoundKey] = {}  # ciphertext -> plaintext, in memory only
        self._discovered: dict[tuple[str, str | None], tuple[float, list[str] | None, str | None]] = {}
        # provider -> (what the check was made with: updated_at and key token, its result)
        self._states: dict[str, tuple[tuple[datetime | None, str | None, str | None], ProviderState]] = {}

    @property
    def creds_key_configured(self) -> bool:
        return self._cipher is not None

    # --- reading ----------------------------------------------------------------------------

    def invalidate(self) -> None:
        self._creds = None

    async def _credentials(self) -> dict[str, StoredCredential]:
        if self._creds is not None and time.monotonic() - self._creds_at < self._cache_ttl_s:
            return self._creds
        creds = {c.provider: c for c in await run_in_threadpool(self._store.list_credentials)}
        if self._cipher is not None:
            for cred in creds.values():
                token = cred.api_key_ciphertext
                if not token:
                    continue
                try:
                    upgraded = self._cipher.upgrade(token, provider=cred.provider, endpoint=endpoint_of(cred.base_url))
                except PrismError:
                    log.warning("provider %s: stored key cannot be decrypted with PRISM_CREDS_KEY", cred.provider)
                    continue
                if upgraded is not None:
                    cred.api_key_ciphertext = upgraded
                    await run_in_threadpool(self._store.put_credential, cred)
                    log.info(
                        "provider %s: key re-encrypted (newest PRISM_CREDS_KEY, bound to its endpoint)", cred.provider
                    )
        self._creds, self._creds_at = creds, time.monotonic()
        return creds

    def _decrypt(self, cred: StoredCredential) -> str | None:
        """The key of ``cred``, only for the provider and base URL it was entered for."""
        token = cred.api_key_ciphertext
        if not token:
            return None
        key = self._plain.get(token)
        if key is None:
            if self._cipher is None:
                raise CredentialsKeyMissingError(
                    "PRISM_CREDS_KEY is not set, so the stored key for "
                    f"'{cred.provider}' cannot be decrypted. Set the key it was stored under."
                )
            key = self._cipher.open_bound(token)
            if len(self._plain) > 64:
                self._plain.clear()
            self._plain[token] = key
        endpoint = endpoint_of(cred.base_url)
        if not key.matches(cred.provider, endpoint):
            log.warning("provider %s: stored key is bound to another endpoint; not sent to %s", cred.provider, endpoint)
            raise endpoint_mismatch(cred.provider, endpoint)
        return key.secret

    def _custom_base_url_refused(self, provider: str, base_url: str | None) -> str | None:
        """Why a first-party provider may not be called at ``base_url`` (None: it may)."""
        if base_url and CATALOG[provider].first_party and not self.allow_custom_base_urls:
            label = CATALOG[provider].label
            return (
                f"{label} is called only at its own endpoint: a custom base_url for '{provider}' needs "
                "PRISM_ALLOW_CUSTOM_BASE_URLS=true (an admin setting); use openai_compatible for other servers"
            )
        return None

    async def views(self) -> list[ProviderView]:
        states = await self.states()
        creds = await self._credentials()
        out: list[ProviderView] = []
        for pid in PROVIDERS:
            info = CATALOG[pid]
            cred = creds.get(pid)
            view = ProviderView(pid, info.label, cred is not None, info.key_required, info.base_url_required)
            if cred is not None:
                view.key_last4 = cred.key_last4 or None
                view.has_key = bool(cred.api_key_ciphertext)
                view.base_url = cred.base_url
                view.models = list(cred.models)
                view.updated_at = cred.updated_at
            view.state = states[pid]
            out.append(view)
        return out

    # --- connection checks ------------------------------------------------------------------

    @staticmethod
    def _checked_with(cred: StoredCredential) -> tuple[datetime | None, str | None, str | None]:
        return (cred.updated_at, cred.api_key_ciphertext, cred.base_url)

    async def states(self) -> dict[str, ProviderState]:
        """Every provider's state: the last check of its stored credential, made now if none."""
        creds = await self._credentials()
        out: dict[str, ProviderState] = {}
        pending: list[StoredCredential] = []
        for pid in PROVIDERS:
            cred = creds.get(pid)
            hit = self._states.get(pid)
            if cred is None:
                out[pid] = NOT_CONFIGURED
            elif hit is not None and hit[0] == self._checked_with(cred):
                out[pid] = hit[1]
            else:
                pending.append(cred)
        for cred, state in zip(pending, await asyncio.gather(*(self._check(c) for c in pending)), strict=True):
            out[cred.provider] = state
        return out

    async def _check(self, cred: StoredCredential) -> ProviderState:
        """List ``cred``'s models with its key; the result is kept until the credential changes."""
        reason = self._custom_base_url_refused(cred.provider, cred.base_url)
        if reason is None:
            try:
                key = self._decrypt(cred)
            except PrismError as exc:
                reason = exc.message
            else:
                if cred.provider == "openai_compatible" and not cred.base_url:
                    reason = "No base URL is saved for this endpoint."
                else:
                    reason = await self._probe(*listing_request(cred.provider, cred.base_url, key), has_key=bool(key))
        state = ProviderState("failing" if reason else "working", reason, self._clock())
        if len(self._states) > 32:
            self._states.clear()
        self._states[cred.provider] = (self._checked_with(cred), state)
        log.info("provider %s checked: %s%s", cred.provider, state.state, f" ({reason})" if reason else "")
        return state

    async def _probe(self, url: str, headers: dict[str, str], *, has_key: bool) -> str | None:
        """Why listing the models at ``url`` failed, in plain words; None when it worked."""
        origin = _origin(url)
        try:
            async with self.egress.http_client(timeout=self._discovery_timeout_s) as client:
                resp = await client.get(url, headers=headers)
        except EgressRefusedError as exc:
            return f"Could not reach {origin}: {exc.reason}"
        except httpx.TimeoutException:
            return f"Could not reach {origin}: no answer within {self._discovery_timeout_s:g} s"
        except httpx.HTTPError as exc:
            return f"Could not reach {origin}: {_connect_words(exc)}"
        status = resp.status_code
        if status in (401, 403):
            if not has_key:
                return f"The provider asks for a key (HTTP {status})"
            return f"The provider refused the key (HTTP {status})"
        if status != 200:
            return f"Listing the models at {url} answered HTTP {status}"
        try:
            body = resp.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return f"{url} did not answer with a model list"
        return None

    async def _discover(self, base_url: str, api_key: str | None) -> tuple[list[str] | None, str | None]:
        """The model list an OpenAI-compatible endpoint reports at ``GET {base_url}/models``."""
        cache_key = (base_url, api_key)
        hit = self._discovered.get(cache_key)
        if hit is not None and time.monotonic() - hit[0] < self._discovery_ttl_s:
            return hit[1], hit[2]
        import httpx

        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        models: list[str] | None = None
        # One answer for every failure (refused, cut, not HTTP, an HTTP error, not allowed, a
        # redirect, not JSON): which one it was would tell a caller what listens at an address.
        error: str | None = f"could not list the models at {base_url}"
        try:
            async with self.egress.http_client(timeout=self._discovery_timeout_s) as client:
                resp = await client.get(base_url.rstrip("/") + "/models", headers=headers)
                if resp.status_code == 200:
                    data = resp.json().get("data", [])
                    models = [str(m["id"]) for m in data if isinstance(m, dict) and m.get("id")]
                    error = None
                else:
                    log.info("listing models at %s: HTTP %s", base_url, resp.status_code)
        except EgressRefusedError as exc:
            log.info("listing models at %s: %s", base_url, exc.reason)
        except (httpx.HTTPError, ValueError, AttributeError, TypeError, KeyError) as exc:
            log.info("listing models at %s: %s", base_url, type(exc).__name__)
        if len(self._discovered) > 32:
            self._discovered.clear()
        self._discovered[cache_key] = (time.monotonic(), models, error)
        return models, error

    async def _group(self, cred: StoredCredential) -> ModelGroup:
        info = CATALOG[cred.provider]
        error: str | None = None
        names: list[str]
        refused = self._custom_base_url_refused(cred.provider, cred.base_url)
        if refused is not None:
            return ModelGroup(cred.provider, info.label, [], refused)
        if cred.models:
            names = list(cred.models)
        elif cred.provider == "openai_compatible" and cred.base_url:
            try:
                key = self._decrypt(cred)
            except PrismError as exc:
                return ModelGroup(cred.provider, info.label, [], exc.message)
            discovered, error = await self._discover(cred.base_url, key)
            names = discovered or []
        else:
            names = list(info.default_models)
        models = [{"id": f"{cred.provider}/{n}", "name": n, "label": n} for n in names]
        return ModelGroup(cred.provider, info.label, models, error)

    def _demo_group(self) -> ModelGroup:
        return ModelGroup(
            DEMO_PROVIDER,
            "Demo",
            [{"id": DEMO_MODEL_ID, "name": DEMO_MODEL, "label": DEMO_LABEL, "demo": True}],
        )

    async def model_groups(self) -> list[ModelGroup]:
        states = await self.states()
        creds = await self._credentials()
        groups = [await self._group(creds[p]) for p in PROVIDERS if p in creds]
        for group in groups:
            group.state = states[group.provider]
        if self.demo_enabled:
            groups.append(self._demo_group())
        return groups

    async def resolve(self, model_id: str) -> ResolvedModel:
        """Check ``model_id`` against the configuration; raises UnknownModelError (422)."""
        parts = split_model_id(model_id)
        if parts is None:
            raise UnknownModelError(
                f"model '{model_id}' must look like '<provider>/<model>', e.g. 'openai/gpt-4o-mini'; "
                "GET /api/models lists the models usable now"
            )
        provider, model = parts
        if provider == DEMO_PROVIDER:
            if not self.demo_enabled or self._demo_base_url is None:
                raise UnknownModelError("the offline demo model is switched off (PRISM_DEMO_MODEL)")
            if model != DEMO_MODEL:
                raise UnknownModelError(f"unknown demo model '{model}'; the demo model is '{DEMO_MODEL_ID}'")
            return ResolvedModel(model_id, DEMO_PROVIDER, DEMO_MODEL, "prism-demo", self._demo_base_url())
        if provider not in CATALOG:
            raise UnknownModelError(
                f"unknown provider '{provider}' in model '{model_id}'; providers: {', '.join(PROVIDERS)}"
            )
        creds = await self._credentials()
        cred = creds.get(provider)
        if cred is None:
            raise UnknownModelError(
                f"provider '{provider}' is not configured: add it in Settings (PUT /api/settings/providers/{provider})"
            )
        refused = self._custom_base_url_refused(provider, cred.base_url)
        if refused is not None:
            raise ValidationFailedError(refused, code="base_url_not_allowed")
        api_key = self._decrypt(cred)
        allowed: list[str] | None
        if cred.models:
            allowed = list(cred.models)
        elif provider == "openai_compatible" and cred.base_url:
            allowed, _ = await self._discover(cred.base_url, api_key)  # None: unknown, let the endpoint decide
        else:
            allowed = list(CATALOG[provider].default_models)
        if allowed is not None and model not in allowed:
            raise UnknownModelError(
                f"model '{model}' is not offered by '{provider}'"
                + (f" (offered: {', '.join(allowed[:20])})" if allowed else "")
                + "; add it to the provider's model list in Settings to use it"
            )
        return ResolvedModel(model_id, provider, model, api_key, cred.base_url)

    # --- writing ----------------------------------------------------------------------------

    async def put(
        self,
        provider: str,
        *,
        api_key: str | None,
        base_url: str | None,
        models: list[str] | None,
    ) -> ProviderView:
        """Store a provider. ``api_key`` None keeps the stored key; ``""`` removes it."""
        info = CATALOG.get(provider)
        if info is None:
            raise ProviderNotConfiguredError(
                f"unknown provider '{provider}'; providers: {', '.join(PROVIDERS)}", code="unknown_provider"
            )
        endpoint = endpoint_of(base_url)
        refused = self._custom_base_url_refused(provider, endpoint)
        if refused is not None:
            raise ValidationFailedError(refused, code="base_url_not_allowed")
        host_refused = self.egress.refusal_for_url(endpoint) if endpoint is not None else None
        if host_refused is not None:
            hint = (
                "an admin can allow loopback and private hosts with PRISM_ALLOW_PRIVATE_PROVIDER_HOSTS=true "
                "(e.g. for a local Ollama)"
                if host_refused.reach == "private"
                else "link-local and cloud metadata addresses are never allowed"
            )
            raise ValidationFailedError(f"base_url is not allowed: {host_refused}; {hint}", code="base_url_not_allowed")
        existing = await run_in_threadpool(self._store.get_credential, provider)
        token = existing.api_key_ciphertext if existing else None
        tail = existing.key_last4 if existing else ""
        if api_key is None and token and existing is not None and endpoint_of(existing.base_url) != endpoint:
            # The stored key goes only where it was entered for: a new endpoint needs it again.
            raise ValidationFailedError(
                f"changing the base_url of '{provider}' needs its api_key again: a stored key is only sent to "
                'the endpoint it was entered for. Send api_key with the new base_url (or api_key "" to drop it).',
                code="api_key_reentry_required",
            )
        if api_key is not None:
            if api_key == "":
                token, tail = None, ""
            else:
                if self._cipher is None:
                    raise CredentialsKeyMissingError(
                        "PRISM_CREDS_KEY is not set: provider keys cannot be stored encrypted. "
                        "Run `make up` (it generates one into .env) or set PRISM_CREDS_KEY."
                    )
                token, tail = self._cipher.encrypt_bound(api_key, provider=provider, endpoint=endpoint), last4(api_key)
        elif token and self._cipher is not None:
            with contextlib.suppress(PrismError):  # undecryptable: kept as it is, reported when used
                token = self._cipher.upgrade(token, provider=provider, endpoint=endpoint) or token
        if info.key_required and not token:
            raise ValidationFailedError(f"provider '{provider}' needs an api_key", code="api_key_required")
        if info.base_url_required and not base_url:
            raise ValidationFailedError(
                f"provider '{provider}' needs a base_url, e.g. http://localhost:11434/v1 for Ollama",
                code="base_url_required",
            )
        stored = await run_in_threadpool(
            self._store.put_credential,
            StoredCredential(provider, token, tail, endpoint, models or []),
        )
        self.invalidate()
        self._discovered.clear()
        view = ProviderView(provider, info.label, True, info.key_required, info.base_url_required)
        view.key_last4 = stored.key_last4 or None
        view.has_key = bool(stored.api_key_ciphertext)
        view.base_url = stored.base_url
        view.models = list(stored.models)
        view.updated_at = stored.updated_at
        view.state = await self._check(stored)
        return view

    async def delete(self, provider: str) -> None:
        if provider not in CATALOG:
            raise ProviderNotConfiguredError(
                f"unknown provider '{provider}'; providers: {', '.join(PROVIDERS)}", code="unknown_provider"
            )
        deleted = await run_in_threadpool(self._store.delete_credential, provider)
        self._states.pop(provider, None)
        self.invalidate()
        self._discovered.clear()
        if not deleted:
            raise ProviderNotConfiguredError(f"provider '{provider}' is not configured")

    async def rotate_all(self) -> int:
        """Re-encrypt every stored key under the newest PRISM_CREDS_KEY (binding keys stored before
        binding to their row's endpoint); returns how many changed."""
        if self._cipher is None:
            raise CredentialsKeyMissingError("PRISM_CREDS_KEY is not set")
        changed = 0
        for cred in await run_in_threadpool(self._store.list_credentials):
            token = cred.api_key_ciphertext
            upgraded = (
                self._cipher.upgrade(token, provider=cred.provider, endpoint=endpoint_of(cred.base_url))
                if token
                else None
            )
            if upgraded is not None:
                cred.api_key_ciphertext = upgraded
                await run_in_threadpool(self._store.put_credential, cred)
                changed += 1
        self.invalidate()
        return changed
