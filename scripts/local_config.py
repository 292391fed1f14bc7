"""The settings of ``make up`` without Docker (``scripts/dev.py``, ``scripts/supervisor.py``,
``scripts/web.py``): the ports, where the state lives, the supervisor's timings, and every URL
derived from the ports.

The port variables are the single source. ``PRISM_INGEST_URL`` (where the chat's SDK sends its
events), ``AWS_ENDPOINT_URL`` (the S3/Kinesis emulator), ``PRISM_CORS_ORIGINS`` (the web UI's origin
is always allowed) and the web UI's ``config.json`` follow them, unless that derived value is set
itself, in the environment or in ``.env``. The environment wins over ``.env``, which wins over the
defaults below.

One origin: the web server (``scripts/web.py``) serves the UI and forwards every path of
:data:`ROUTES` to the function that owns it, so the browser calls its own origin (``config.json``
holds empty, same-origin base URLs), the session cookie is first-party and no CORS is needed. In
compose, ``web/docker/nginx.conf`` forwards the same prefixes (a test holds the two together).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent

#: Values that follow the ports unless set (``scripts/bootstrap_env.py`` unpins the ones an older
#: ``.env.example`` wrote into ``.env``).
DERIVED = ("PRISM_INGEST_URL", "AWS_ENDPOINT_URL", "PRISM_CORS_ORIGINS", "PRISM_WEB_CHAT_URL", "PRISM_WEB_QUERY_URL")

#: Which function owns which paths of the web origin: a path is forwarded when it is one of these
#: prefixes or lies under one (``/api/logs`` and ``/api/logs/...``, not ``/api/logsx``).
ROUTES: dict[str, tuple[str, ...]] = {
    "chat": ("/api/conversations", "/api/models", "/api/settings"),
    "query": ("/api/metrics", "/api/logs", "/api/dashboards"),
    "identity": ("/api/auth", "/api/users", "/api/keys", "/api/projects", "/api/config", "/api/audit"),
}


class LocalConfigError(ValueError):
    """A variable of the local stack has a value it cannot use."""


class LocalSettings(BaseSettings):
    """``PRISM_*`` variables read only by the local stack (the functions read ``prism.config``)."""

    model_config = SettingsConfigDict(env_prefix="PRISM_", extra="ignore", env_file=None)

    chat_port: int = Field(default=8100, ge=1, le=65535, description="Port of the chat API")
    ingestion_port: int = Field(default=8101, ge=1, le=65535, description="Port of the ingestion API")
    query_port: int = Field(default=8102, ge=1, le=65535, description="Port of the query API")
    identity_port: int = Field(default=8103, ge=1, le=65535, description="Port of the identity API")
    web_port: int = Field(default=3001, ge=1, le=65535, description="Port of the web UI")
    emulator_port: int = Field(default=4566, ge=1, le=65535, description="Port of the S3/Kinesis emulator")
    web: Literal["on", "off"] = Field(default="on", description="off: do not build or serve the web UI")
    state_dir: Path = Field(default=ROOT / ".prism", description="Pids, supervisor state (run/) and logs (logs/)")
    env_file: Path = Field(default=ROOT / ".env", description="The .env file read for defaults")
    web_chat_url: str | None = Field(
        default=None, description="Chat API URL in the web UI's config.json (unset: the web origin, forwarded)"
    )
    web_query_url: str | None = Field(
        default=None, description="Query API URL in the web UI's config.json (unset: the web origin, forwarded)"
    )
    supervisor_backoff_s: float = Field(default=0.5, gt=0, description="First delay before restarting a crash")
    supervisor_backoff_max_s: float = Field(default=60.0, gt=0, description="Longest delay between restarts")
    supervisor_stop_grace_s: float = Field(default=10.0, gt=0, description="SIGTERM to SIGKILL on a stop")

    @field_validator("state_dir", "env_file")
    @classmethod
    def _from_root(cls, path: Path) -> Path:
        """A relative path is relative to the repository (where ``make`` runs)."""
        return path if path.is_absolute() else ROOT / path

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> LocalSettings:
        """From ``env`` alone (not ``os.environ``); an empty value counts as unset."""
        values: dict[str, Any] = {}
        for name, info in cls.model_fields.items():
            raw = env.get(f"PRISM_{name.upper()}", "")
            values[name] = raw if raw != "" else info.get_default(call_default_factory=True)
        try:
            return cls(**values)
        except ValidationError as exc:
            problems = "; ".join(f"PRISM_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors())
            raise LocalConfigError(f"invalid configuration: {problems}") from exc

    @property
    def run_dir(self) -> Path:
        return self.state_dir / "run"

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "logs"

    def url(self, port: int, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{port}"

    def web_origins(self) -> list[str]:
        """The web UI's origins: allowed by every function (CORS, and the request guard's ``Origin``
        and ``Host`` checks, which the forwarded requests pass with the web origin's ``Host``)."""
        return [self.url(self.web_port, "localhost"), self.url(self.web_port)]

    def upstreams(self) -> dict[str, str]:
        """Where the web server forwards each function's paths (:data:`ROUTES`)."""
        return {
            "chat": self.url(self.chat_port),
            "query": self.url(self.query_port),
            "identity": self.url(self.identity_port),
        }

    def derived(self, env: Mapping[str, str]) -> dict[str, str]:
        """The derived variables for processes of this stack; a value set in ``env`` is kept."""
        out = {
            "PRISM_INGEST_URL": env.get("PRISM_INGEST_URL") or self.url(self.ingestion_port),
            "AWS_ENDPOINT_URL": env.get("AWS_ENDPOINT_URL") or self.url(self.emulator_port),
        }
        # The web UI that `make up` serves is always allowed, whatever else is set.
        origins = [o.strip() for o in env.get("PRISM_CORS_ORIGINS", "").split(",") if o.strip()]
        origins += [o for o in self.web_origins() if o not in origins]
        out["PRISM_CORS_ORIGINS"] = ",".join(origins)
        return out

    def web_config(self) -> dict[str, Any]:
        """The web UI's ``config.json``: where the browser finds this stack's APIs; ``""`` is the
        page's own origin (the web server forwards :data:`ROUTES`)."""
        return {
            "chatApiUrl": self.web_chat_url or "",
            "chatStreamUrl": None,
            "queryApiUrl": self.web_query_url or "",
        }


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines of a ``.env`` file (comments and blank lines skipped, quotes stripped)."""
    values: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                key, _, value = line.partition("=")
                values[key.strip()] = value.strip().strip('"').strip("'")
    return values
