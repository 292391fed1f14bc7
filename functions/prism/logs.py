"""Structured logs: every function writes one JSON object per line, with the id of the request (or
Lambda invocation) it serves.

Modules log through the standard library (``log = logging.getLogger(__name__)``, so logger names
follow the modules). ``setup_logging(service)``, called once by each entry point (the served app, the Lambda
handlers, the writer's CLI), puts Powertools' JSON formatter on the root handler and returns the
Powertools ``Logger`` whose ``inject_lambda_context`` adds the invocation's keys (``function_request_id``,
cold start, ...) to every record. Tests that build apps with ``create_app()`` keep the plain
logging pytest captures.

``request_scope(request_id)`` binds a request id to the current context (the HTTP edge does it for
every request: ``prism.http.RequestId``); every record logged inside carries it as ``request_id``.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

_request_id: ContextVar[str | None] = ContextVar("prism_request_id", default=None)
_loggers: dict[str, Logger] = {}
#: A caller's ``X-Request-Id`` is kept when it looks like an id (and is short); otherwise a new one.
_GOOD_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        rid = _request_id.get()
        if rid is not None and not hasattr(record, "request_id"):
            record.request_id = rid
        return True


def setup_logging(service: str) -> Logger:
    """JSON logs on stderr for this process, at ``PRISM_LOG_LEVEL`` (default INFO). Idempotent."""
    if service in _loggers:
        return _loggers[service]
    level = os.environ.get("PRISM_LOG_LEVEL", "INFO").upper()
    formatter = LambdaPowertoolsFormatter(service=service, log_record_order=["timestamp", "level", "name", "message"])
    formatter.append_keys(name="%(name)s")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    handler.addFilter(_RequestIdFilter())
    root = logging.getLogger()
    # Ours replaces the handlers already there (the Lambda runtime's plain-text one), except the
    # capture handlers of a pytest run that imports a handler module.
    root.handlers = [h for h in root.handlers if type(h).__module__.startswith("_pytest")] + [handler]
    root.setLevel(level)
    # The Powertools logger shares the formatter (so the keys it appends reach every record) and
    # writes through the root handler (a null handler of its own: nothing is written twice).
    logger = Logger(service=service, level=level, logger_formatter=formatter, logger_handler=logging.NullHandler())
    _loggers[service] = logger
    return logger


def new_request_id(given: str | None = None) -> str:
    """``given`` when it is a plausible id, else a fresh one."""
    if given and _GOOD_ID.fullmatch(given):
        return given
    return uuid.uuid4().hex


@contextmanager
def request_scope(request_id: str) -> Iterator[str]:
    token = _request_id.set(request_id)
    try:
        yield request_id
    finally:
        _request_id.reset(token)


def current_request_id() -> str | None:
    return _request_id.get()
