"""Whether two recordings really differ: the Mann-Whitney U test and the verdict rule.

Comparing two recordings compares their windows: each window's value of a metric (a
stage's p99, the fps, ...) is one observation. `mann_whitney_u` is the two-sided
Mann-Whitney U test over two such samples, with the conventions of SciPy's
`mannwhitneyu(x, y, alternative="two-sided", method="auto")`: the exact distribution of U
when there are no ties and one sample has at most `EXACT_MAX_N` values, otherwise the
normal approximation with the tie correction and a continuity correction of 0.5.

`verdict` is the rule a comparison states: better or worse only when the change is both
larger than `THRESHOLD` and significant at `ALPHA`; otherwise no clear difference. Pure
functions, no I/O. The host is the one judge: the console and `punktfunk stats compare` show
its verdicts (`GET /api/v1/stats/compare`); the test vectors
(`tests/vectors/mann_whitney.json`) hold SciPy's p-values for the same samples.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

THRESHOLD = 0.05
"""A relative change must be larger than this (5 %) to count."""
ALPHA = 0.05
"""... and its p-value smaller than this."""
EXACT_MAX_N = 8
"""The exact distribution is used when the smaller sample has at most this many values
(and there are no ties); SciPy's `method="auto"` rule."""

Better = Literal["lower", "higher", "neutral"]
Verdict = Literal["better", "worse", "changed", "no_clear_difference", "n/a"]


def _ranks(x: Sequence[float], y: Sequence[float]) -> tuple[float, list[int]]:
    """The sum of `x`'s ranks in x + y (ties get their average rank), and the size of
    every group of tied values."""
    pooled = sorted([(v, 0) for v in x] + [(v, 1) for v in y])
    rank_sum_x = 0.0
    ties: list[int] = []
    i = 0
    while i < len(pooled):
        j = i
        while j + 1 < len(pooled) and pooled[j + 1][0] == pooled[i][0]:
            j += 1
        average = (i + j) / 2 + 1  # ranks are 1-based
        rank_sum_x += average * sum(1 for k in range(i, j + 1) if pooled[k][1] == 0)
        if j > i:
            ties.append(j - i + 1)
        i = j + 1
    return rank_sum_x, ties


def _u_counts(m: int, n: int) -> list[int]:
    """How many of the C(m+n, m) orderings give each U = 0 .. m*n: the coefficients of
    the Gaussian binomial coefficient [m+n choose m], built one factor at a time."""
    counts = [1]
    for i in range(1, m + 1):
        # multiply by (1 - q^(n+i)), then divide by (1 - q^i); both stay exact integers
        shift = n + i
        size = len(counts) + shift
        grown = counts + [0] * shift
        for k in range(size - 1, shift - 1, -1):
            grown[k] -= grown[k - shift]
        for k in range(i, size):
            grown[k] += grown[k - i]
        counts = grown[: len(counts) + n]  # the quotient's degree: n more than before
    return counts


def _normal_sf(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2))


def mann_whitney_u(x: Sequence[float], y: Sequence[float]) -> float | None:
    """The two-sided p-value of the Mann-Whitney U test of `x` against `y`; None when
    either sample is empty."""
    n1, n2 = len(x), len(y)
    if n1 == 0 or n2 == 0:
        return None
    rank_sum_x, ties = _ranks(x, y)
    u1 = rank_sum_x - n1 * (n1 + 1) / 2
    u = max(u1, n1 * n2 - u1)
    if not ties and min(n1, n2) <= EXACT_MAX_N:
        counts = _u_counts(min(n1, n2), max(n1, n2))
        at_least = sum(counts[round(u) :])
        p = 2 * at_least / math.comb(n1 + n2, n1)
    else:
        n = n1 + n2
        tie_term = sum(t**3 - t for t in ties)
        variance = n1 * n2 / 12 * ((n + 1) - tie_term / (n * (n - 1)))
        numerator = u - n1 * n2 / 2 - 0.5
        if variance <= 0:  # every value equal: nothing tells the samples apart
            return 1.0
        p = 2 * _normal_sf(numerator / math.sqrt(variance))
    return min(1.0, max(0.0, p))


def relative_change(value: float | None, baseline: float | None) -> float | None:
    """(value - baseline) / baseline; None when either is unmeasured or the baseline is 0."""
    if value is None or baseline is None or baseline == 0:
        return None
    return (value - baseline) / baseline


def verdict(
    value: float | None,
    baseline: float | None,
    p_value: float | None,
    better: Better,
    *,
    threshold: float = THRESHOLD,
    alpha: float = ALPHA,
) -> Verdict:
    """The comparison's word for `value` against `baseline`.

    "n/a" when either side was not measured (or the test could not run); "better" or
    "worse" (by `better`'s direction; "changed" for a metric with no good direction)
    only when |relative change| > `threshold` and p < `alpha`; else "no_clear_difference".
    A change from a baseline of 0 to anything else counts as larger than any threshold.
    """
    if value is None or baseline is None or p_value is None:
        return "n/a"
    if value == baseline:
        return "no_clear_difference"
    change = relative_change(value, baseline)
    large = change is None or abs(change) > threshold  # None here: from a baseline of 0
    if not (large and p_value < alpha):
        return "no_clear_difference"
    if better == "neutral":
        return "changed"
    lower = value < baseline
    return "better" if lower == (better == "lower") else "worse"
