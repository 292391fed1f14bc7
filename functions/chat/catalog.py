"""The providers the chat can call, their models, and how a model id maps onto a LiteLLM call.

A model id is ``<provider>/<model>``, e.g. ``openai/gpt-4o-mini`` or ``openai_compatible/llama3.2``.
The model part may itself contain slashes (OpenRouter: ``openai_compatible/meta-llama/llama-3-8b``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ProviderId = Literal["openai", "anthropic", "gemini", "openai_compatible"]
PROVIDERS: tuple[ProviderId, ...] = ("openai", "anthropic", "gemini", "openai_compatible")
DEMO_PROVIDER = "demo"
DEMO_MODEL = "prism-demo"
DEMO_MODEL_ID = f"{DEMO_PROVIDER}/{DEMO_MODEL}"
DEMO_LABEL = "Offline demo (no key, no network)"


@dataclass(frozen=True)
class ProviderInfo:
    id: str
    label: str
    litellm_prefix: str  # LiteLLM's provider prefix for the model string
    key_required: bool
    base_url_required: bool
    # Called at the provider's own endpoint: a custom base_url only when PRISM_ALLOW_CUSTOM_BASE_URLS
    first_party: bool = True
    default_models: tuple[str, ...] = field(default_factory=tuple)


CATALOG: dict[str, ProviderInfo] = {
    "openai": ProviderInfo(
        "openai",
        "OpenAI",
        "openai",
        key_required=True,
        base_url_required=False,
        default_models=("gpt-4.1", "gpt-4.1-mini", "gpt-4o", "gpt-4o-mini", "o4-mini"),
    ),
    "anthropic": ProviderInfo(
        "anthropic",
        "Anthropic",
        "anthropic",
        key_required=True,
        base_url_required=False,
        default_models=("claude-sonnet-4-5", "claude-opus-4-1", "claude-3-5-haiku-latest"),
    ),
    "gemini": ProviderInfo(
        "gemini",
        "Google Gemini",
        "gemini",
        key_required=True,
        base_url_required=False,
        default_models=("gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.0-flash"),
    ),
    "openai_compatible": ProviderInfo(
        "openai_compatible",
        "OpenAI-compatible endpoint (Ollama, vLLM, LM Studio, OpenRouter)",
        "openai",
        key_required=False,
        base_url_required=True,
        first_party=False,
    ),
}


def split_model_id(model_id: str) -> tuple[str, str] | None:
    """``"openai/gpt-4o"`` -> ``("openai", "gpt-4o")``; None when there is no provider part."""
    provider, sep, model = model_id.partition("/")
    if not sep or not provider or not model.strip():
        return None
    return provider, model


def litellm_model(provider: str, model: str) -> str:
    if provider == DEMO_PROVIDER:
        return f"openai/{model}"
    return f"{CATALOG[provider].litellm_prefix}/{model}"
