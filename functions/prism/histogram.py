"""Mergeable latency histograms: the bucket scheme of ``latency_hist_minute``/``latency_hist_hour``.

Bucket ``i`` holds values ``v`` (ms) with ``GAMMA**(i-1) < v <= GAMMA**i``; :func:`value` reports it
as ``2 GAMMA**i / (GAMMA + 1)``, which is within :data:`RELATIVE_ERROR` of every value in it. A
quantile read from merged counts therefore lies within ``RELATIVE_ERROR`` of the exact nearest-rank
quantile of the values counted. The SQL function ``prism_hist_bucket`` (migration 004) is the same
function as :func:`bucket`; a test keeps them equal.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta

#: The percentiles every metrics response carries.
QUANTILES = {"p50": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99}
GAMMA = 1.05
RELATIVE_ERROR = (GAMMA - 1) / (GAMMA + 1)  # 0.0244
ZERO = -32768  # values <= 0
LOWEST, HIGHEST = -400, 600  # clamp: ~3e-9 ms .. ~5e12 ms

_LN_GAMMA = math.log(GAMMA)


def bucket(v: float) -> int:
    if v <= 0:
        return ZERO
    return max(LOWEST, min(HIGHEST, math.ceil(math.log(v) / _LN_GAMMA)))


def value(i: int) -> float:
    """The value reported for bucket ``i``."""
    if i == ZERO:
        return 0.0
    return 2 * GAMMA**i / (GAMMA + 1)


def quantiles(counts: Mapping[int, int] | Iterable[tuple[int, int]], qs: Iterable[float]) -> dict[float, float | None]:
    """Nearest-rank quantiles (``q`` in [0, 1]) of the values counted per bucket; None when empty:
    the value of the first bucket whose running count reaches ``max(1, ceil(q * total))``."""
    items = sorted(counts.items() if isinstance(counts, Mapping) else counts)
    total = sum(n for _, n in items)
    out: dict[float, float | None] = {}
    for q in qs:
        if total == 0:
            out[q] = None
            continue
        rank = max(1, math.ceil(q * total))  # the rank-th smallest value
        seen = 0
        for i, n in items:
            seen += n
            if seen >= rank:
                out[q] = value(i)
                break
    return out


#: Time steps of a timeseries (and the rollups' minutes, hours and days) are aligned to this
#: instant (a Monday, 00:00 UTC).
EPOCH = datetime(2000, 1, 3, tzinfo=UTC)


def align_down(t: datetime, unit: timedelta) -> datetime:
    """The start of the ``unit`` (minute, hour, day, step) holding ``t``, counted from :data:`EPOCH`."""
    return t - (t - EPOCH) % unit
