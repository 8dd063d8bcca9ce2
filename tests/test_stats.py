"""reporting.stats: t quantiles against tables, t intervals, and paired differences from item ranks."""
import math

import pytest

from reporting.stats import item_scores, mean_ci, mean_std, paired_difference, seeds_for_half_width, t_quantile


@pytest.mark.parametrize("df,expected", [(1, 12.706), (2, 4.303), (4, 2.776), (9, 2.262), (30, 2.042)])
def test_t_quantiles_match_the_table(df, expected):
    assert t_quantile(0.95, df) == pytest.approx(expected, abs=1e-3)


def test_mean_std_and_t_interval():
    assert mean_std([1.0, 3.0]) == (2.0, 1.0)  # population std, as CoOp's tables
    mean, half = mean_ci([10.0, 20.0, 30.0])
    assert mean == 20.0 and half == pytest.approx(4.3027 * 10.0 / math.sqrt(3), rel=1e-4)
    assert math.isnan(mean_ci([5.0])[1])


def test_seeds_for_a_half_width_from_the_table():
    """Per-seed values 0, 2, 4 (sd 2): 4 seeds give 3.182 * 2 / 2 = 3.18 > 3, 5 give 2.776 * 2 / sqrt(5)
    = 2.48; for 1 point, 17 seeds give 2.120 * 2 / sqrt(17) = 1.03, 18 give 2.110 * 2 / sqrt(18) = 0.99.
    Fails with the population sd (then 4 seeds would do) or with normal quantiles."""
    assert seeds_for_half_width([0.0, 2.0, 4.0], 3.0) == 5
    assert seeds_for_half_width([0.0, 2.0, 4.0], 1.0) == 18
    assert seeds_for_half_width([1.0, 1.0, 1.0], 0.1) == 2  # no spread: the fewest that give an interval
    assert seeds_for_half_width([0.0, 100.0], 1.0) is None  # about 19,000 seeds: beyond ``most``
    with pytest.raises(ValueError, match="at least 2"):
        seeds_for_half_width([1.0], 3.0)


def _ranks(i2t, t2i):
    return {"D": {"i2t": i2t, "t2i": t2i}}


def test_item_scores_make_the_metrics():
    r = _ranks([0, 3, 12], [1, 0, 0])
    s = item_scores(r, "i2t_R@1")["D"]
    assert s[0].tolist() == [100.0, 0.0, 0.0] and s[1].tolist() == [0.0, 0.0, 0.0]
    a, b = item_scores(r, "rsum")["D"]
    assert a.mean() + b.mean() == pytest.approx(100 * (1 / 3 + 2 / 3 + 2 / 3) + 100 * (2 / 3 + 1 + 1))


def test_paired_difference_by_hand():
    a = [_ranks([0, 0, 0, 5], [0, 0, 0, 0]), _ranks([0, 0, 5, 5], [0, 0, 0, 0])]  # i2t R@1 75, 50
    b = [_ranks([0, 5, 5, 5], [0, 0, 0, 0]), _ranks([0, 5, 5, 5], [0, 0, 0, 0])]  # 25, 25
    d = paired_difference(a, b, "i2t_R@1", resamples=500)
    assert d["per_seed"] == [50.0, 25.0] and d["mean"] == 37.5
    half = t_quantile(0.95, 1) * math.sqrt(((50 - 37.5) ** 2 + (25 - 37.5) ** 2) / 1) / math.sqrt(2)
    assert d["ci95_seeds"] == pytest.approx([37.5 - half, 37.5 + half])
    lo, hi = d["ci95_items"]
    assert 0.0 <= lo <= 37.5 <= hi <= 100.0
    assert d["ci95"] == [min(lo, 37.5 - half), max(hi, 37.5 + half)] and d["significant"] is False  # seeds too few


def test_a_constant_item_difference_has_a_point_bootstrap_interval():
    a = [_ranks([0] * 50, [0] * 50)] * 3
    b = [_ranks([9] * 50, [0] * 50)] * 3
    d = paired_difference(a, b, "i2t_R@1")
    assert d["mean"] == 100.0 and d["ci95_items"] == [100.0, 100.0] and d["significant"] is True
    assert paired_difference(b, a, "i2t_R@1")["ci95"][1] < 0  # swapping the sides flips the sign
    with pytest.raises(ValueError, match="same number of runs"):
        paired_difference(a, b[:2], "rsum")
