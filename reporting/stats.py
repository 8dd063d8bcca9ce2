"""Small-sample statistics without SciPy: Student's t quantiles, confidence intervals of a mean,
and paired differences between methods (over seeds, and bootstrapped over test items).

With 3-5 seeds the normal approximation (1.96 sigma / sqrt(n)) is far too narrow: the 95%
two-sided t quantile is 4.30 for n = 3 and 2.78 for n = 5. Quantiles come from the exact CDF
of Student's t for integer degrees of freedom (Abramowitz & Stegun 26.7.3-4), inverted by
bisection.
"""
from __future__ import annotations

import math
from typing import Any, Sequence


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
    return mean, t_quantile(confidence, n - 1) * _sample_sd(values) / math.sqrt(n)


def _sample_sd(values: Sequence[float]) -> float:
    """The sample standard deviation (n - 1 degrees of freedom) of two or more values."""
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def seeds_for_half_width(per_seed: Sequence[float], target: float, confidence: float = 0.95,
                         most: int = 1000) -> int | None:
    """The fewest seeds whose t interval of the mean would have a half-width of at most ``target``
    if the per-seed values kept the spread they show (sample standard deviation): a planning
    figure for the seed part of a paired interval (the spread is itself estimated from few seeds;
    the item part is not covered). None when more than ``most`` seeds would be needed."""
    if len(per_seed) < 2:
        raise ValueError(f"a spread over seeds needs at least 2 values, got {len(per_seed)}")
    sd = _sample_sd(per_seed)
    for seeds in range(2, most + 1):
        if t_quantile(confidence, seeds - 1) * sd / math.sqrt(seeds) <= target:
            return seeds
    return None


ItemRanks = dict[str, dict[str, list[int]]]  # domain -> {"i2t": rank per image, "t2i": rank per caption}


def item_scores(ranks: ItemRanks, metric: str, ks: Sequence[int] = (1, 5, 10)) -> dict[str, tuple[Any, Any]]:
    """Per domain, each query's contribution to ``metric`` (``i2t_R@K``, ``t2i_R@K`` or ``rsum``):
    arrays over image queries and over caption queries, such that the metric is the mean over
    domains of (mean of the first + mean of the second)."""
    import numpy as np

    out = {}
    for domain, r in ranks.items():
        i2t, t2i = np.asarray(r["i2t"]), np.asarray(r["t2i"])
        if metric == "rsum":
            out[domain] = (100.0 * sum(i2t < k for k in ks), 100.0 * sum(t2i < k for k in ks))
        else:
            direction, k = metric.split("_R@")
            hits = 100.0 * ((i2t if direction == "i2t" else t2i) < int(k))
            zeros = np.zeros(len(t2i if direction == "i2t" else i2t))
            out[domain] = (hits, zeros) if direction == "i2t" else (zeros, hits)
    return out


def _value(scores: dict[str, tuple[Any, Any]]) -> float:
    return sum(a.mean() + b.mean() for a, b in scores.values()) / len(scores)


def paired_difference(a: Sequence[ItemRanks], b: Sequence[ItemRanks], metric: str, resamples: int = 2000,
                      seed: int = 0) -> dict[str, Any]:
    """Mean difference ``a - b`` in ``metric`` over paired runs (the same seeds, the same test
    galleries), with two 95% intervals:

    * ``ci95_seeds``: Student t over the per-seed differences (training randomness);
    * ``ci95_items``: percentile bootstrap over test queries, resampled within each domain, of the
      difference averaged over seeds (which test items happened to be drawn);

    and ``ci95``, the hull of both: ``significant`` only when it excludes 0.
    """
    import numpy as np

    if len(a) != len(b) or not a:
        raise ValueError(f"paired difference needs the same number of runs on both sides, got {len(a)} and {len(b)}")
    per_seed = [_value(item_scores(x, metric)) - _value(item_scores(y, metric)) for x, y in zip(a, b)]
    mean, half = mean_ci(per_seed)
    diffs: dict[str, tuple[Any, Any]] = {}
    for x, y in zip(a, b):
        sx, sy = item_scores(x, metric), item_scores(y, metric)
        for d in sx:
            da, db = sx[d][0] - sy[d][0], sx[d][1] - sy[d][1]
            prev = diffs.get(d)
            diffs[d] = (da, db) if prev is None else (prev[0] + da, prev[1] + db)
    diffs = {d: (u / len(a), v / len(a)) for d, (u, v) in diffs.items()}
    rng = np.random.default_rng(seed)
    boot = np.zeros(resamples)
    for u, v in diffs.values():
        iu = rng.integers(0, len(u), (resamples, len(u)))
        iv = iu if len(u) == len(v) else rng.integers(0, len(v), (resamples, len(v)))  # one caption per image: joint
        boot += u[iu].mean(1) + (v[iv].mean(1) if len(v) else 0.0)
    boot /= len(diffs)
    items = (float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5)))
    seeds = (mean - half, mean + half) if len(a) > 1 else (float("nan"), float("nan"))
    lo = min(items[0], seeds[0]) if len(a) > 1 else items[0]
    hi = max(items[1], seeds[1]) if len(a) > 1 else items[1]
    return {"metric": metric, "mean": mean, "per_seed": per_seed, "ci95_seeds": list(seeds), "ci95_items": list(items),
            "ci95": [lo, hi], "significant": bool(lo > 0 or hi < 0)}
