"""What the studies conclude from paired differences (docs/results.md, "Studies"): a verdict per
difference, whether a conclusion holds on every draw of the data, the half-widths of an interval
and its parts, and how an interval is written in a report. The differences themselves come from
:func:`reporting.stats.paired_difference`."""
from __future__ import annotations

DIFF_METRICS = ("i2t_R@1", "t2i_R@1", "rsum")  # the metrics every study pairs its rows in


def verdict(d: dict) -> str:
    """better / worse when the 95% interval excludes 0, else not distinguishable."""
    return ("better" if d["mean"] > 0 else "worse") if d["significant"] else "not distinguishable"


def across_draws(draws: list[dict]) -> list[dict]:
    """Each paired difference of the first draw with its verdict on every draw; ``holds`` when
    the verdicts agree (a conclusion of the table stands only when it holds on every draw)."""
    def key(d: dict) -> tuple[str, str, str]:
        return d["row"], d["reference"], d["metric"]

    by_draw = [{key(x): x for x in r["differences"]} for r in draws]
    out = []
    for d in draws[0]["differences"]:
        same = [differences.get(key(d)) for differences in by_draw]
        if any(x is None for x in same):
            continue
        verdicts_ = {str(r["data_seed"]): verdict(x) for r, x in zip(draws, same)}
        out.append({"row": d["row"], "reference": d["reference"], "metric": d["metric"],
                    "means": {str(r["data_seed"]): x["mean"] for r, x in zip(draws, same)},
                    "ci95": {str(r["data_seed"]): x["ci95"] for r, x in zip(draws, same)},
                    "verdicts": verdicts_, "holds": len(set(verdicts_.values())) == 1})
    return out


def negated(d: dict) -> dict:
    """The paired difference ``b - a`` from ``a - b``: mean, per-seed values and every interval
    negated (a percentile interval over the same resamples maps exactly)."""
    flip = {k: [-d[k][1], -d[k][0]] for k in ("ci95", "ci95_seeds", "ci95_items") if k in d}
    return {**d, "mean": -d["mean"], **({"per_seed": [-x for x in d["per_seed"]]} if "per_seed" in d else {}), **flip}


def half_widths(difference: dict) -> dict[str, float]:
    """Half the width of a paired difference's 95% interval, and of its item and seed parts."""
    return {part: (hi - lo) / 2 for part, (lo, hi) in
            (("overall", difference["ci95"]), ("items", difference["ci95_items"]), ("seeds", difference["ci95_seeds"]))}


def interval(d: dict, digits: int = 2) -> str:
    """``+1.23 [+0.45, +2.01]``: a difference's mean and 95% interval, signed, to ``digits`` decimals."""
    return f"{d['mean']:+.{digits}f} [{d['ci95'][0]:+.{digits}f}, {d['ci95'][1]:+.{digits}f}]"
