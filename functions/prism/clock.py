"""Time, from one place: every date- or time-dependent code path takes a ``Clock``.

Production code passes nothing and gets :func:`utc_now`; tests pass a fixed or stepping clock,
so no behaviour (partitions, retention, windows, staleness) depends on the day a test runs.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The wall clock, timezone-aware UTC."""
    return datetime.now(UTC)


def utc_today(clock: Clock = utc_now) -> date:
    """The current UTC day by ``clock``."""
    return clock().astimezone(UTC).date()
