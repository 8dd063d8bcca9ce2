"""Small-sample statistics without SciPy: Student's t quantiles and confidence intervals of a mean.

With 3-5 seeds the normal approximation (1.96 sigma / sqrt(n)) is far too narrow: the 95%
two-sided t quantile is 4.30 for n = 3 and 2.78 for n = 5. Quantiles come from the exact CDF
of Student's t for integer degrees of freedom (Abramowitz & Stegun 26.7.3-4), inverted by
bisection.
"""
from __future__ import annotations

import math
from typing import Sequence


def t_central_probability(t: float, df: int) -> float:
    """P(|T| < t) for Student's t with ``df`` (integer >= 1) degrees of freedom."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    theta = math.atan(abs(t) / math.sqrt(df))
    s, c2 = math.sin(theta), math.cos(theta) ** 2
    if df % 2:  # odd: 2/pi (theta + sin(theta) * sum over the odd powers of cos)
        term, total = math.cos(theta), 0.0
        for k in range(1, (df - 1) // 2 + 1):
            total += term
            term *= c2 * (2 * k) / (2 * k + 1)
        return (2 / math.pi) * (theta + s * total) if df > 1 else 2 * theta / math.pi
    term, total = 1.0, 0.0  # even: sin(theta) * sum over the even powers of cos
    for k in range(1, df // 2 + 1):
        total += term
        term *= c2 * (2 * k - 1) / (2 * k)
    return s * total


def t_quantile(confidence: float, df: int) -> float:
    """The t such that P(|T| < t) = ``confidence`` (e.g. 0.95 -> 4.303 for df 2)."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    lo, hi = 0.0, 1.0
    while t_central_probability(hi, df) < confidence:
        hi *= 2
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if t_central_probability(mid, df) < confidence else (lo, mid)
    return (lo + hi) / 2


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and population standard deviation (CoOp's ``np.std``), as the tables report them."""
    mean = sum(values) / len(values)
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))


def mean_ci(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """Mean and the half-width of its t confidence interval (sample standard deviation, n - 1
    degrees of freedom); the half-width is NaN for a single value."""
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, float("nan")
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    return mean, t_quantile(confidence, n - 1) * sd / math.sqrt(n)
