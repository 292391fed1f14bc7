"""The SDK's own log (logger ``prism_sdk``): each kind of trouble is reported once per process."""

from __future__ import annotations

import logging
import threading

logger = logging.getLogger("prism_sdk")

_warned: set[str] = set()
_warned_lock = threading.Lock()


def warn_once(
    key: str, msg: str, *args: object, level: int = logging.WARNING, exc_info: bool = False
) -> None:
    """Log ``msg`` the first time ``key`` is seen in this process, at debug level afterwards."""
    with _warned_lock:
        first = key not in _warned
        _warned.add(key)
    logger.log(level if first else logging.DEBUG, msg, *args, exc_info=exc_info)
