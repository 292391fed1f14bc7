"""Settings: every variable is ``PRISM_*`` (plus the standard ``AWS_*``), validated at start."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, PostgresDsn, RedisDsn, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from prism.errors import ConfigError

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PRISM_", extra="ignore", env_file=None)

    env: Literal["local", "test", "cloud"] = "local"
    database_url: PostgresDsn = Field(default=PostgresDsn("postgresql://postgres@127.0.0.1:5432/prism"))
    redis_url: RedisDsn = Field(default=RedisDsn("redis://127.0.0.1:6379/0"))

    # Secrets read at run time from AWS Secrets Manager (prism.secrets, cached 5 min): when an ARN is
    # set it wins over the plain variable, which local runs and compose use.
    database_secret_arn: str = Field(
        default="",
        description="Secret holding the database URL, or the JSON {username, password, host, port, dbname} "
        "(an RDS-managed secret: host, port and dbname from PRISM_DATABASE_HOST/_PORT/_NAME)",
    )
    database_host: str = Field(default="", description="The database host when the secret has none (RDS Proxy)")
    database_port: int = 5432
    database_name: str = "prism"
    api_key_secret_arn: str = Field(default="", description="Secret holding PRISM_API_KEY")
    creds_key_secret_arn: str = Field(default="", description="Secret holding PRISM_CREDS_KEY")
    admin_secret_arn: str = Field(default="", description="Secret holding the first admin's {email, password}")
    oidc_client_secret_arn: str = Field(default="", description="Secret holding PRISM_OIDC_CLIENT_SECRET")

    # Ingestion
    api_key: str = Field(default="", description="Ingestion key(s), comma-separated to allow rotation")
    max_events_per_request: int = 500
    max_request_bytes: int = 5 * 1024 * 1024
    redactor: Literal["regex", "presidio"] = "regex"
    keep_raw: bool = Field(default=False, description="Offload every raw payload to the RawPayloadStore")
    bus_max_payload_bytes: int = Field(
        default=256 * 1024, description="Payloads bigger than this go to the RawPayloadStore, not the bus"
    )

    # Bus
    bus: Literal["redis", "kinesis"] = "redis"
    stream: str = "inference.logged"
    stream_maxlen: int = 1_000_000
    stream_max_bytes: int = Field(
        default=256 * 1024 * 1024,
        ge=0,
        description="Approximate cap on the Redis stream's memory (bytes, MEMORY USAGE); past it the oldest "
        "entries are trimmed and counted like PRISM_STREAM_MAXLEN's; 0: no byte cap",
    )
    kinesis_stream: str = "prism-inference-logged"

    # Raw payload store
    raw_store: Literal["s3", "file"] = "s3"
    raw_bucket: str = "prism-raw-payloads"
    raw_dir: str = ".prism/raw"

    # Writer
    writer_group: str = "cg-writer"
    writer_consumer: str = ""
    writer_batch: int = 2000
    writer_block_ms: int = 200
    writer_max_deliveries: int = 5
    writer_claim_idle_ms: int = 30_000
    writer_stalled_after_s: float = Field(
        default=30.0,
        gt=0,
        description="/readyz reports the pipeline degraded when no consumer of the writer group has been "
        "active for this long (seconds)",
    )
    writer_dlq: str = Field(
        default="prism-writer-dead-letters",
        description="SQS queue (name or URL) where the local Kinesis poller sends the description of a batch "
        "that exhausted its retries, as Lambda's on-failure destination does",
    )
    # The local Kinesis poller (python -m writer.kinesis_poller): the event source mapping's settings
    kinesis_batch_size: int = Field(default=500, ge=1, le=10_000, description="Records per invocation at most")
    kinesis_batch_window_s: float = Field(
        default=1.0, ge=0, le=300, description="Longest wait to fill a batch (MaximumBatchingWindowInSeconds)"
    )
    kinesis_max_retries: int = Field(
        default=-1, ge=-1, le=10_000, description="Retries of a failing batch (MaximumRetryAttempts; -1: until expiry)"
    )
    kinesis_max_record_age_s: int = Field(
        default=165_600,
        ge=-1,
        description="Older records go to the dead letters, not the handler (-1: no limit); the template's value, "
        "2 h under the stream's 48 h retention",
    )
    kinesis_bisect_on_error: bool = Field(default=True, description="Split a failing batch in two before retrying")
    kinesis_starting_position: Literal["TRIM_HORIZON", "LATEST"] = Field(
        default="TRIM_HORIZON", description="Where a shard without a checkpoint starts"
    )
    kinesis_checkpoint_dir: str = Field(
        default=".prism/kinesis", description="Where the poller keeps the shards' checkpoints (a JSON file per stream)"
    )
    retention_days: int = 30
    partitions_ahead_days: int = 3
    minute_histogram_days: int = Field(
        default=2,
        ge=1,
        description="Days the per-minute latency histograms are kept (per-hour ones: retention_days). Older "
        "windows resolve to whole hours, and steps under an hour reach back this far.",
    )

    # Chat
    creds_key: str = Field(default="", description="Fernet key(s), comma-separated, newest first")
    demo_model: bool = True
    cors_origins: str = "http://localhost:3001,http://127.0.0.1:3001"

    # The HTTP edge of every API (prism.http.RequestGuard, BodyLimit) and the rate limits (prism.ratelimit)
    allowed_hosts: str = Field(
        default="",
        description="Host names the APIs answer to besides the loopback names and the hosts of PRISM_CORS_ORIGINS "
        "(comma-separated; * for any, the default when PRISM_ENV=cloud): a DNS-rebinding page gets 400",
    )
    body_timeout_s: float = Field(
        default=30.0, gt=0, description="Longest a client may take to send a request body (then 408)"
    )
    rate_limit_storage: str = Field(
        default="memory://",
        description="Where rate-limit counters live: memory:// (per process) or a redis:// URL (shared by every "
        "instance)",
    )
    rate_limit_auth_failures: str = Field(
        default="20/minute",
        description="Failed authentications allowed per client address and per key presented (then 429); empty: off",
    )
    rate_limit_ingest: str = Field(
        default="2000/second", description="Ingestion requests per API key (then 429 with Retry-After); empty: off"
    )
    rate_limit_chat_turns: str = Field(
        default="30/minute", description="Chat turns per user (per client address until sign-in); empty: off"
    )
    rate_limit_login_failures: str = Field(
        default="10/minute;50/hour",
        description="Failed sign-ins allowed per account and per client address (then 429); empty: off",
    )

    # Identity and access (the identity function, prism.identity)
    admin_email: str = Field(default="admin@localhost", description="The first admin, created when no user exists")
    admin_password: str = Field(default="", description="The first admin's password (generated into .env)")
    session_idle_h: float = Field(default=24, gt=0, description="A session unused this long ends (hours)")
    session_ttl_h: float = Field(default=168, gt=0, description="A session ends this long after sign-in (hours)")
    password_login: Literal["on", "off"] = Field(default="on", description="off: single sign-on only")
    audit_retention_days: int = Field(default=365, ge=1, description="Days the audit log is kept")

    # Single sign-on with OpenID Connect (identity.oidc): on when an issuer is set
    oidc_issuer: str = Field(default="", description="Issuer URL of the OpenID provider (discovery); empty: off")
    oidc_client_id: str = ""
    oidc_client_secret: str = Field(default="", description="Also keys the sealed login-state cookie")
    oidc_redirect_url: str = Field(
        default="", description="Callback URL registered at the provider; empty: <origin>/api/auth/oidc/callback"
    )
    oidc_scopes: str = "openid email profile"
    oidc_role_claim: str = Field(default="groups", description="Claim (dotted path) whose values map to a role")
    oidc_role_map: str = Field(default="", description="claim value=role, comma-separated (prism-admins=admin)")
    oidc_default_role: Literal["admin", "member", "viewer"] = "viewer"

    # Behind a proxy
    viewer_address_header: str = Field(
        default="",
        description="Header a trusted proxy puts the caller's address in (CloudFront-Viewer-Address in AWS, "
        "ip:port); empty: the connection's address",
    )

    @field_validator("stream_maxlen", "writer_batch", "max_events_per_request")
    @classmethod
    def _positive(cls, v: int) -> int:
        if v <= 0:
            raise ValueError("must be positive")
        return v

    @field_validator("oidc_role_map")
    @classmethod
    def _role_map(cls, v: str) -> str:
        for pair in filter(None, (p.strip() for p in v.split(","))):
            value, _, role = pair.rpartition("=")
            if not value.strip() or role.strip() not in ("admin", "member", "viewer"):
                raise ValueError(f"{pair!r} is not <claim value>=admin|member|viewer")
        return v

    @property
    def password_login_enabled(self) -> bool:
        return self.password_login != "off"  # noqa: S105 - on/off, not a password

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.oidc_issuer.strip())

    @property
    def oidc_roles(self) -> dict[str, str]:
        """``PRISM_OIDC_ROLE_MAP`` as {claim value: role}."""
        pairs = (p.strip().rpartition("=") for p in self.oidc_role_map.split(",") if p.strip())
        return {value.strip(): role.strip() for value, _, role in pairs}

    @property
    def api_keys(self) -> list[str]:
        """The ingestion keys: ``api_key_secret_arn``'s secret as it is now (TTL-cached, so a rotation
        reaches running instances within the TTL), or ``PRISM_API_KEY``."""
        return self._split(self._secret_now(self.api_key_secret_arn, self.api_key))

    @property
    def creds_keys(self) -> list[str]:
        """The Fernet keys, newest first: ``creds_key_secret_arn``'s secret as it is now (TTL-cached),
        or ``PRISM_CREDS_KEY``."""
        return self._split(self._secret_now(self.creds_key_secret_arn, self.creds_key))

    @staticmethod
    def _split(raw: str) -> list[str]:
        return [k.strip() for k in raw.split(",") if k.strip()]

    @staticmethod
    def _secret_now(arn: str, plain: str) -> str:
        if not arn:
            return plain
        from prism.secrets import default_cache

        return default_cache().get(arn).strip()

    @property
    def cors_origin_list(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]

    @property
    def trusted_hosts(self) -> list[str]:
        """The ``Host`` names the APIs answer to (see ``allowed_hosts``)."""
        extra = [h.strip() for h in self.allowed_hosts.split(",") if h.strip()]
        if self.env == "cloud" and "allowed_hosts" not in self.model_fields_set:
            return ["*"]
        origin_hosts = [o.split("://", 1)[-1].split("/", 1)[0] for o in self.cors_origin_list]  # host[:port]
        return [*LOOPBACK_HOSTS, *origin_hosts, *extra]

    @property
    def database_dsn(self) -> str:
        """The database URL: from ``database_secret_arn``'s secret (as it is now) or ``database_url``."""
        if self.database_secret_arn:
            from prism.secrets import default_cache

            defaults: dict[str, str | int] = {"port": self.database_port, "dbname": self.database_name}
            if self.database_host:
                defaults["host"] = self.database_host
            return default_cache().database_dsn(self.database_secret_arn, defaults=defaults)
        return str(self.database_url)

    def with_secrets(self) -> Settings:
        """These settings with the values of the ``*_secret_arn`` secrets filled in as they are at
        start. Where they are used, the database URL, the ingestion keys and the credential keys are
        read again (:attr:`database_dsn`, :attr:`api_keys`, :attr:`creds_keys`), so that a rotation
        reaches running instances; the OIDC client secret and the first admin's stay as read here."""
        from prism.secrets import default_cache

        cache = default_cache()
        update: dict[str, str] = {}
        if self.api_key_secret_arn:
            update["api_key"] = cache.get(self.api_key_secret_arn).strip()
        if self.creds_key_secret_arn:
            update["creds_key"] = cache.get(self.creds_key_secret_arn).strip()
        if self.admin_secret_arn:
            admin = cache.get_json(self.admin_secret_arn)
            update["admin_email"] = str(admin.get("email") or self.admin_email)
            update["admin_password"] = str(admin.get("password") or "")
        if self.oidc_client_secret_arn:
            update["oidc_client_secret"] = cache.get(self.oidc_client_secret_arn).strip()
        return self.model_copy(update=update) if update else self

    @property
    def redis_dsn(self) -> str:
        return str(self.redis_url)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    try:
        return Settings().with_secrets()
    except ValidationError as exc:
        problems = "; ".join(f"PRISM_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid configuration: {problems}") from exc
