"""The chat function's settings: the shared :class:`prism.config.Settings` plus chat timeouts."""

from __future__ import annotations

from functools import lru_cache

from prism.config import Settings
from prism.errors import ConfigError
from pydantic import Field, ValidationError


class ChatSettings(Settings):
    chat_timeout_s: float = Field(
        default=120.0, gt=0, description="PRISM_CHAT_TIMEOUT_S: longest a whole reply may stream"
    )
    chat_read_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="PRISM_CHAT_READ_TIMEOUT_S: longest wait for the provider to connect or send more data",
    )
    chat_cancel_poll_s: float = Field(
        default=1.0,
        gt=0,
        description="PRISM_CHAT_CANCEL_POLL_S: how often a streaming turn checks the database for a cancel "
        "requested through another instance",
    )
    chat_live_interval_s: float = Field(
        default=0.25,
        gt=0,
        le=5,
        description="PRISM_CHAT_LIVE_INTERVAL_S: how often a streaming reply's text so far is stored, and how "
        "often a client following it from another page or instance reads it",
    )
    spool_dir: str = Field(
        default="",
        description="PRISM_SPOOL_DIR: where prism-sdk keeps the chat's events until the ingestion API has them "
        "(default .prism/spool/chat, /tmp/prism-spool on Lambda; off for none)",
    )
    allow_custom_base_urls: bool = Field(
        default=False,
        description="PRISM_ALLOW_CUSTOM_BASE_URLS: let OpenAI, Anthropic and Gemini take a base_url (a proxy or "
        "gateway in front of them); off, they are called only at their own endpoints",
    )
    allow_private_provider_hosts: bool = Field(
        default=True,
        description="PRISM_ALLOW_PRIVATE_PROVIDER_HOSTS: let provider base URLs reach loopback and private "
        "addresses (a local Ollama or vLLM); on by default, off when PRISM_ENV=cloud unless set. Link-local "
        "and cloud metadata addresses are never reachable",
    )

    @property
    def private_provider_hosts_allowed(self) -> bool:
        """Loopback/private provider hosts: allowed by default, refused in a cloud deploy unless set."""
        if self.env == "cloud":
            return "allow_private_provider_hosts" in self.model_fields_set and self.allow_private_provider_hosts
        return self.allow_private_provider_hosts

    @property
    def demo_enabled(self) -> bool:
        """The offline demo model: on by default, off in a cloud deploy unless PRISM_DEMO_MODEL is set."""
        if self.env == "cloud":
            return "demo_model" in self.model_fields_set and self.demo_model
        return self.demo_model


@lru_cache(maxsize=1)
def get_chat_settings() -> ChatSettings:
    try:
        return ChatSettings()
    except ValidationError as exc:
        problems = "; ".join(f"PRISM_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid configuration: {problems}") from exc
