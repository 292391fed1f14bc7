"""The histogram scheme behind every percentile the query API reports."""

from __future__ import annotations

import math
import random
from collections import Counter

import pytest
from prism import histogram


def counts(values: list[float]) -> Counter[int]:
    return Counter(histogram.bucket(v) for v in values)


def nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


@pytest.mark.parametrize("seed", range(5))
def test_quantiles_are_within_the_stated_relative_error_of_the_exact_ones(seed: int) -> None:
    rng = random.Random(seed)
    values = [rng.lognormvariate(rng.uniform(2, 8), rng.uniform(0.1, 2)) for _ in range(rng.randint(1, 5000))]
    qs = [0.0, 0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0]
    got = histogram.quantiles(counts(values), qs)
    for q in qs:
        exact = nearest_rank(values, q)
        estimate = got[q]
        assert estimate is not None
        assert abs(estimate - exact) <= histogram.RELATIVE_ERROR * exact * (1 + 1e-9), (q, estimate, exact)


def test_histograms_merge_by_adding_counts() -> None:
    rng = random.Random(1)
    a = [rng.expovariate(1 / 300) for _ in range(1000)]
    b = [rng.expovariate(1 / 3000) for _ in range(300)]
    merged = counts(a) + counts(b)
    assert merged == counts(a + b)
    assert histogram.quantiles(merged, [0.95]) == histogram.quantiles(counts(a + b), [0.95])


def test_every_value_is_reported_within_the_error_of_its_bucket() -> None:
    for v in [1e-6, 0.3, 1.0, 1.05, 1.0500001, 7.5, 999.9, 1000.0, 86_400_000.0]:
        reported = histogram.value(histogram.bucket(v))
        assert abs(reported - v) <= histogram.RELATIVE_ERROR * v * (1 + 1e-9), v


def test_zero_negative_and_empty() -> None:
    assert histogram.bucket(0.0) == histogram.bucket(-3.0) == histogram.ZERO
    assert histogram.quantiles({histogram.ZERO: 3}, [0.5]) == {0.5: 0.0}
    assert histogram.quantiles({}, [0.5, 0.99]) == {0.5: None, 0.99: None}
    assert histogram.bucket(1e300) == histogram.HIGHEST and histogram.bucket(1e-300) == histogram.LOWEST
