"""The client: the public face of the SDK. Settings in, an O(1) ``log`` and ``flush`` / ``shutdown`` /
``stats`` out; the queue, the threads, retries and the spool's upkeep are its :class:`~._worker.Worker`'s."""

from __future__ import annotations

import atexit
import functools
import os
import weakref
from collections.abc import Mapping
from typing import Any

from ._config import ENV_INGEST_URL, Settings
from ._event import Buildable
from ._log import warn_once
from ._spool import Spool
from ._stats import Stats
from ._worker import Worker


class Prism:
    """A Prism client. Most code uses the module-level default (``prism_sdk.init`` / env variables).

    Args (each falls back to its ``PRISM_*`` variable, then to its default; see ``sdk/README.md``):
        ingest_url: base URL of the ingestion API; None and no ``PRISM_INGEST_URL``: a no-op client.
        api_key: sent as ``Authorization: Bearer``.
        spool_dir: directory of the durable spool (off when None).
    """

    def __init__(
        self,
        ingest_url: str | None = None,
        api_key: str | None = None,
        spool_dir: str | None = None,
        *,
        spool_max_bytes: int | None = None,
        max_queue: int | None = None,
        max_unspooled: int | None = None,
        batch_size: int | None = None,
        flush_interval: float | None = None,
        timeout: float | None = None,
        max_backoff: float | None = None,
        enabled: bool | None = None,
        capture_content: bool | None = None,
        lambda_flush_timeout: float | None = None,
    ) -> None:
        self.settings = Settings.resolve(
            ingest_url=ingest_url,
            api_key=api_key,
            spool_dir=spool_dir,
            spool_max_bytes=spool_max_bytes,
            max_queue=max_queue,
            max_unspooled=max_unspooled,
            batch_size=batch_size,
            flush_interval=flush_interval,
            timeout=timeout,
            max_backoff=max_backoff,
            enabled=enabled,
            capture_content=capture_content,
            lambda_flush_timeout=lambda_flush_timeout,
        )
        s = self.settings
        self.active = s.active
        self.capture_content = s.capture_content
        self.spool: Spool | None = None
        self._worker: Worker | None = None  # set exactly when the client is active
        if not s.enabled:
            return
        if not s.ingest_url:
            warn_once(
                "no-url",
                "prism-sdk: %s is not set: LLM calls are not logged (the SDK is a no-op)",
                ENV_INGEST_URL,
            )
            return
        if s.spool_dir:
            self.spool = Spool(s.spool_dir, s.spool_max_bytes)
        self._worker = Worker(s, self.spool)
        # log() is on every LLM call's path: bound to the worker's put, it costs no extra call.
        self.log = self._worker.put  # type: ignore[method-assign]
        ref = weakref.ref(self)
        os.register_at_fork(after_in_child=functools.partial(_after_fork, ref))
        atexit.register(_atexit_shutdown, ref)
        if self.spool is not None and self.spool.has_files():
            self._worker.ensure_started()  # replay what a previous process left behind

    def log(self, event: Buildable | Mapping[str, Any]) -> None:
        """Queue one event (a dict in the inference event v1 shape, or a call record). O(1); never raises.

        Missing ``id``, ``schema_version`` and ``sdk`` are filled in; ``datetime`` values become RFC 3339.
        """
        w = self._worker
        if w is not None:
            w.put(event)

    def stats(self) -> Stats:
        w = self._worker
        return Stats() if w is None else w.stats()

    def flush(self, timeout: float | None = 5.0) -> bool:
        """Deliver everything logged so far. True when every event is delivered (or dropped, and
        counted): none left in memory, none waiting in the spool.

        Blocks up to ``timeout`` seconds (None: no limit) and never raises. With a spool it never
        sleeps through a retry's backoff: while the client backs off after a failed request, it
        returns False as soon as every event is on disk, and the events are replayed when the API
        answers again (``stats().spool_pending`` says how many wait). It does wait for a request in
        flight (up to ``timeout``), and, while the API answers, for the replay of what the spool held.
        Without a spool, events can only wait in memory: it waits for the retries, up to ``timeout``.
        """
        w = self._worker
        return True if w is None else w.flush(timeout)

    def shutdown(self, timeout: float = 5.0) -> None:
        """Flush, stop the worker and close the spool. Idempotent; ``log`` is a no-op afterwards."""
        w = self._worker
        if w is not None:
            w.shutdown(timeout)


def _after_fork(ref: weakref.ref[Prism]) -> None:
    client = ref()
    if client is not None and client._worker is not None:
        client._worker.after_fork()


def _atexit_shutdown(ref: weakref.ref[Prism]) -> None:
    client = ref()
    if client is not None:
        client.shutdown(timeout=2.0)
