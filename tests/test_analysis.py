"""benchmarks/harness/analysis.py: verdicts, a conclusion across draws, interval half-widths and how an
interval is written (each against hand-computed values)."""
from benchmarks.harness.analysis import across_draws, half_widths, interval, verdict


def test_half_widths_of_the_hull_and_its_parts():
    diff = {"ci95": [-4.0, 2.0], "ci95_items": [-1.0, 1.5], "ci95_seeds": [-4.0, 2.0]}
    assert half_widths(diff) == {"overall": 3.0, "items": 1.25, "seeds": 3.0}


def test_a_verdict_needs_an_interval_that_excludes_zero_and_is_written_signed():
    d = {"mean": -1.234, "ci95": [-2.0, -0.5], "significant": True}
    assert verdict(d) == "worse" and verdict({**d, "mean": 1.0}) == "better"
    assert verdict({**d, "significant": False}) == "not distinguishable"
    assert interval(d) == "-1.23 [-2.00, -0.50]" and interval(d, 1) == "-1.2 [-2.0, -0.5]"


def _draw(seed, verdicts):
    """A draw's report with one paired difference per (row, verdict)."""
    ci = {"better": [1.0, 3.0], "worse": [-3.0, -1.0], "not distinguishable": [-1.0, 1.0]}
    return {"data_seed": seed, "differences": [
        {"row": row, "reference": "MaPLe", "metric": "rsum", "mean": sum(ci[v]) / 2, "ci95": ci[v],
         "significant": v != "not distinguishable"} for row, v in verdicts.items()]}


def test_a_conclusion_holds_only_when_every_draw_gives_it_the_same_verdict():
    first = _draw(0, {"DCAR": "worse", "CoOp": "better", "CLIP-Adapter": "not distinguishable"})
    second = _draw(7, {"DCAR": "not distinguishable", "CoOp": "better", "CLIP-Adapter": "not distinguishable"})
    got = {c["row"]: c for c in across_draws([first, second])}
    assert {r: c["holds"] for r, c in got.items()} == {"DCAR": False, "CoOp": True, "CLIP-Adapter": True}
    assert got["DCAR"]["verdicts"] == {"0": "worse", "7": "not distinguishable"}
    assert got["DCAR"]["means"] == {"0": -2.0, "7": 0.0}
