"""The statistics behind the quality figures, from statsmodels: Wilson intervals, the two-proportion
z-test of an A/B comparison, and the sample size that test needs.

statsmodels takes about a second to import, so it is imported on first use rather than with Django.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

ALPHA = 0.05  # two-sided; 95% intervals
POWER = 0.8
SMALL_SAMPLES = 100  # searched one by one when the solver gives up


def wilson(hits: int, total: int, alpha: float = ALPHA) -> tuple[float, float] | None:
    """The Wilson score interval of `hits` out of `total`; None when total is 0."""
    return wilson_many([(hits, total)], alpha)[0]


def wilson_many(pairs: list[tuple[int, int]], alpha: float = ALPHA) -> list[tuple[float, float] | None]:
    """`wilson` for many (hits, total) pairs in one vectorised call (a series has thousands)."""
    import numpy as np
    from statsmodels.stats.proportion import proportion_confint

    answers: list[tuple[float, float] | None] = [None] * len(pairs)
    counted = [i for i, (_hits, total) in enumerate(pairs) if total > 0]
    if not counted:
        return answers
    hits = np.array([pairs[i][0] for i in counted], dtype=float)
    totals = np.array([pairs[i][1] for i in counted], dtype=float)
    low, high = proportion_confint(hits, totals, alpha=alpha, method="wilson")
    for i, lo, hi in zip(counted, np.atleast_1d(low), np.atleast_1d(high), strict=True):
        # Clipped: floating point can put a bound a hair outside [0, 1].
        answers[i] = (min(max(float(lo), 0.0), 1.0), min(max(float(hi), 0.0), 1.0))
    return answers


@dataclass(frozen=True)
class TwoProportions:
    z: float | None  # None when the test has no answer (no observations, or no variance at all)
    p_value: float | None


def two_proportion_test(hits_a: int, total_a: int, hits_b: int, total_b: int) -> TwoProportions:
    """Two-sided z-test (pooled variance) that B's rate differs from A's; z > 0 when B's is higher."""
    if total_a <= 0 or total_b <= 0:
        return TwoProportions(None, None)
    pooled = (hits_a + hits_b) / (total_a + total_b)
    if pooled in (0.0, 1.0):
        # Every observation the same on both sides: no difference to see, and z would divide by 0.
        return TwoProportions(0.0, 1.0)
    from statsmodels.stats.proportion import proportions_ztest

    z, p = proportions_ztest([hits_b, hits_a], [total_b, total_a], alternative="two-sided")
    return TwoProportions(float(z), float(p))


def sample_size_per_group(
    rate_a: float, rate_b: float, alpha: float = ALPHA, power: float = POWER
) -> int | None:
    """Observations per group for a two-sided test at `alpha` to find a difference of rate_a vs rate_b
    with `power` (Cohen's h, normal approximation); None when the rates are equal (no size suffices)."""
    from statsmodels.stats.power import NormalIndPower
    from statsmodels.stats.proportion import proportion_effectsize

    effect = abs(float(proportion_effectsize(rate_b, rate_a)))
    if not math.isfinite(effect) or effect < 1e-12:
        return None
    analysis = NormalIndPower()
    with warnings.catch_warnings():
        # Its root finder warns on the way and, for very large effects (a handful suffices), gives NaN.
        warnings.simplefilter("ignore")
        n = float(analysis.solve_power(effect_size=effect, alpha=alpha, power=power, ratio=1.0))
    if math.isfinite(n):
        return math.ceil(n)
    for n in range(1, SMALL_SAMPLES + 1):
        if analysis.power(effect_size=effect, nobs1=n, alpha=alpha, ratio=1.0) >= power:
            return n
    return None
