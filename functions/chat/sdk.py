"""The chat's own inference events: how prism-sdk is set up in the chat, the flush after each reply
on Lambda, and what readiness says about their delivery.

Every model call the chat makes goes through prism-sdk's default client (``chat.gateway``). The
chat gives it a durable spool by default, so a turn made while the ingestion API is down is logged
once it is back (the SDK writes every event to the spool before sending it and replays what could
not be sent; the writer stores each event id once):

- ``PRISM_SPOOL_DIR`` when set (``off`` for none);
- on AWS Lambda ``/tmp/prism-spool`` (the only writable place; a later invocation of the same warm
  environment replays it);
- otherwise ``.prism/spool/chat`` under the working directory (``make up`` runs from the repository;
  if it cannot be created, ``<tmp>/prism-spool/chat``).

On Lambda the spool is bounded to 64 MiB unless ``PRISM_SPOOL_MAX_BYTES`` is set (``/tmp`` is shared).

The chat's events go to a project of their own (issue 11 §3): with ``PRISM_CHAT_API_KEY`` set
(``make up`` generates it), the chat sends that key instead of ``PRISM_API_KEY`` and registers it at
start as an ingestion key of the project ``app_config.chat_project`` names (default ``chat``), so
the ingestion API stamps the chat's events with that project. A value not of the ingestion-key form
(``prism_ik_<id12>_<secret43>``, say one set by hand) is sent and registered as the key derived from
it (``prism.keys.ingest_key_for``: the same on every start). Without it the chat sends
``PRISM_API_KEY`` as before, and its events are the ``default`` project's. Registering moves the key
to the configured project each start; a key an admin revoked stays revoked. If the database cannot be
reached at start, registering is retried in the background until it succeeds.

On Lambda the environment may freeze once a response ends, so each reply ends with a flush: it
waits for the delivery of the turn's event (normally a few ms) at most ``PRISM_LAMBDA_FLUSH_TIMEOUT``
seconds (1 s for the chat unless set), and while the ingestion API fails it returns as soon as the
event is on disk, without waiting on a retry.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool

from chat.config import ChatSettings

if TYPE_CHECKING:
    import prism_sdk
    from prism.keys import IngestKeys

log = logging.getLogger(__name__)

LOCAL_SPOOL_DIR = os.path.join(".prism", "spool", "chat")
LAMBDA_SPOOL_DIR = "/tmp/prism-spool"  # noqa: S108 - Lambda's only writable directory
LAMBDA_FLUSH_TIMEOUT_S = 1.0
LAMBDA_SPOOL_MAX_BYTES = 64 * 1024 * 1024  # /tmp (512 MB by default) also holds the caches
#: Events waiting in the spool longer than this make readiness report the chat's events degraded.
SPOOL_STUCK_S = 60.0
ENV_CHAT_API_KEY = "PRISM_CHAT_API_KEY"
CHAT_KEY_NAME = "chat"
REGISTER_RETRY_MAX_S = 30.0
_OFF = {"off", "none", "false", "0", "no"}


def in_lambda() -> bool:
    return bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))


def spool_dir(settings: ChatSettings) -> str:
    """The chat's spool directory ("" for none): ``PRISM_SPOOL_DIR``, else the default of the place."""
    value = settings.spool_dir.strip()
    if value.lower() in _OFF:
        return ""
    return value or (LAMBDA_SPOOL_DIR if in_lambda() else LOCAL_SPOOL_DIR)


def chat_api_key() -> str | None:
    """The ingestion key the chat sends: ``PRISM_CHAT_API_KEY`` as an ingestion key, or None when it
    is not set (the SDK then sends ``PRISM_API_KEY``)."""
    from prism.keys import ingest_key_for

    value = os.environ.get(ENV_CHAT_API_KEY, "").strip()
    return ingest_key_for(value) if value else None


def register_chat_key(key: str, keys: IngestKeys) -> bool:
    """Register ``key`` as the ingestion key of the chat's project; whether it is live there. Never
    raises (False, with the reason in the log)."""
    try:
        registered = keys.register(key, CHAT_KEY_NAME)
    except Exception as exc:
        log.warning("the chat's ingestion key is not registered yet (%s): its events are refused until it is", exc)
        return False
    if registered is None:
        log.error(
            "the chat's ingestion key (%s) is not live: an admin revoked it, the chat project does not exist, "
            "or its prefix belongs to another key; the chat's events are refused",
            key[:21],
        )
        return True  # nothing a retry would change
    log.info("the chat's events go to project %r (ingestion key %s)", registered.project, key[:21])
    return True


def _register_until_done(key: str, keys: IngestKeys) -> None:
    delay = 1.0
    while not register_chat_key(key, keys):
        time.sleep(delay)
        delay = min(delay * 2, REGISTER_RETRY_MAX_S)


def configure_sdk(settings: ChatSettings, keys: IngestKeys | None = None) -> None:
    """Point prism-sdk's default client at the chat's settings: its spool, the Lambda flush budget,
    and the chat's own ingestion key (``PRISM_CHAT_API_KEY``), registered in ``keys`` (default: the
    database of ``settings``) before the first event is sent.

    The ingestion URL comes from the SDK's own variable (``PRISM_INGEST_URL``), the key from
    ``PRISM_API_KEY`` when ``PRISM_CHAT_API_KEY`` is not set (of ``new,old`` it sends the first).
    Never raises: a setting the SDK refuses turns logging off with an error in the log, the chat
    keeps working.
    """
    try:
        import prism_sdk
    except ImportError:
        return
    opts: dict[str, Any] = {"spool_dir": spool_dir(settings)}
    key = chat_api_key()
    if key is not None:
        opts["api_key"] = key
        if keys is None:
            from prism import bootstrap

            keys = bootstrap.build_ingest_keys(settings)
        if not register_chat_key(key, keys):
            threading.Thread(target=_register_until_done, args=(key, keys), name="chat-key", daemon=True).start()
    if in_lambda() and not os.environ.get(prism_sdk.ENV_LAMBDA_FLUSH_TIMEOUT):
        opts["lambda_flush_timeout"] = LAMBDA_FLUSH_TIMEOUT_S
    if in_lambda() and not os.environ.get(prism_sdk.ENV_SPOOL_MAX_BYTES):
        opts["spool_max_bytes"] = LAMBDA_SPOOL_MAX_BYTES
    try:
        try:
            prism_sdk.init(**opts)
        except OSError as exc:  # the spool directory cannot be created (a read-only working directory...)
            fallback = "" if settings.spool_dir.strip() else os.path.join(tempfile.gettempdir(), "prism-spool", "chat")
            log.error(
                "prism-sdk: no spool at %s (%s): %s",
                opts["spool_dir"],
                exc,
                f"using {fallback}" if fallback else "chat events are kept in memory only",
            )
            try:
                prism_sdk.init(**{**opts, "spool_dir": fallback})
            except OSError:
                prism_sdk.init(**{**opts, "spool_dir": ""})
    except prism_sdk.ConfigError as exc:
        log.error("prism-sdk disabled: %s: chat turns are not logged", exc)
        prism_sdk.init(enabled=False)


class EventDelivery:
    """The delivery of the chat's events through prism-sdk's default client (looked up at each use,
    so ``prism_sdk.init`` elsewhere is followed)."""

    def __init__(self, lambda_flush: bool | None = None) -> None:
        self.lambda_flush = in_lambda() if lambda_flush is None else lambda_flush

    @staticmethod
    def client() -> prism_sdk.Prism:
        import prism_sdk

        return prism_sdk.get_client()

    async def after_reply(self) -> None:
        """End of a reply on Lambda: deliver its event, or leave it in the spool at once if the
        ingestion API fails (never raises)."""
        client = self.client()
        try:
            await run_in_threadpool(client.flush, client.settings.lambda_flush_timeout)
        except Exception:
            log.warning("prism-sdk: flush after a reply failed", exc_info=True)

    def check(self, now: float | None = None) -> tuple[str | None, dict[str, Any]]:
        """What readiness reports: a problem with the chat's events (None when there is none) and
        the figures behind it. Reads the spool directory: call it off the event loop."""
        client = self.client()
        if not client.settings.enabled:
            return None, {"logging": "off"}
        if not client.active:
            return "not logged: PRISM_INGEST_URL is not set", {"logging": "off"}
        s = client.stats()
        now = time.time() if now is None else now
        figures: dict[str, Any] = {
            "logging": "on",
            "spool": client.spool.directory if client.spool is not None else None,
            "sent": s.sent,
            "replayed": s.replayed,
            "spooled": s.spooled,
            "spool_pending": s.spool_pending,
            "queued": s.queued,
            "dropped": s.dropped,
            "failures": s.failures,
            "last_error": s.last_error or None,
            "last_error_at": _iso(s.last_error_at),
            "last_sent_at": _iso(s.last_sent_at),
        }
        if s.failing and s.failures:
            # (with a spool, what is queued is on disk too: written ahead, being moved to a spool file)
            kept = (
                f"{s.spool_pending + s.queued} event(s) wait in the spool"
                if client.spool is not None
                else f"{s.queued} event(s) wait in memory (no spool)"
            )
            return (
                f"the ingestion API is unreachable ({s.last_error}; {s.failures} failed attempt(s) in a row): {kept}",
                figures,
            )
        if s.failing:
            return (
                f"the ingestion API refuses the chat's events ({s.last_error}); "
                f"{s.dropped_total} event(s) dropped so far",
                figures,
            )
        if s.spool_pending and s.spool_oldest_at is not None and now - s.spool_oldest_at > SPOOL_STUCK_S:
            age = now - s.spool_oldest_at
            return f"{s.spool_pending} event(s) wait in the spool, the oldest for {age:.0f} s", figures
        return None, figures


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")
