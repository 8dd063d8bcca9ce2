"""benchmarks/dcar_choices.py: the val decision rule and the pairing of each candidate with its reference."""
import argparse
import json

import pytest

from benchmarks import dcar_choices as dc
from benchmarks.records import load


def _run(folder, val: float, test_hits: list[int], split: str = "test"):
    folder.mkdir(parents=True)
    ranks = {"D": {"i2t": test_hits, "t2i": test_hits}}
    rsum = 100.0 * sum(h < k for h in test_hits for k in (1, 5, 10)) * 2 / len(test_hits)
    metrics = {"rsum": val if split == "val" else rsum, "negdisc_category": 80.0}
    (folder / "results.json").write_text(json.dumps({"split": split, "metrics": metrics, "item_ranks": ranks}))
    (folder / "curves.json").write_text(json.dumps([{"epoch": 1, "val_rsum": val}]))
    return str(folder)


def test_a_candidate_is_adopted_only_when_its_val_interval_is_above_zero(tmp_path):
    seeds = [1, 2, 3]
    base = {s: _run(tmp_path / "base" / str(s), 400.0 + s, [0, 1, 20, 0]) for s in seeds}
    # the test-time switches are judged against the default checkpoints evaluated on val (eval-only),
    # which differ from the training curves here: comparing with the curves would adopt them
    base_val = {s: _run(tmp_path / "base_val" / str(s), 450.0, [0], split="val") for s in seeds}
    gains = {"attribute swaps: domain generator": [5.0, 6.0, 7.0],  # clearly above 0: adopted
             "DTR patch similarity, max": [5.0, -5.0, 1.0]}  # mean > 0 but the interval holds 0: kept
    where = {}
    for c in dc.CANDIDATES:
        where[c.name] = {}
        for s in seeds:
            ref = 450.0 if c.test_time else 400.0 + s
            val = ref + gains.get(c.name, [-1.0, -2.0, -3.0])[s - 1] if not c.test_time else 451.0 + s
            test = _run(tmp_path / c.slug / str(s), val, [0, 0, 20, 0])
            where[c.name][s] = {"test": test, "val": test if not c.test_time else
                                _run(tmp_path / c.slug / f"val{s}", val, [0], split="val")}
    folders = [*base.values(), *base_val.values(), *(f for w in where.values() for r in w.values() for f in r.values())]
    results = {f: load(f) for f in folders}
    report = dc.summarise(argparse.Namespace(seeds=seeds, data_seed=0, backbone="b"), where, base, base_val, results)
    rows = report["rows"]
    assert rows["attribute swaps: domain generator"]["adopted"]
    assert rows["attribute swaps: domain generator"]["val_rsum_difference"]["mean"] == pytest.approx(6.0)
    assert not rows["DTR patch similarity, max"]["adopted"]
    assert not rows["DTR noise floor 0.02"]["adopted"]
    assert rows["CAA at test"]["val_rsum_difference"]["per_seed"] == pytest.approx([2.0, 3.0, 4.0])
    assert rows["CAA at test"]["adopted"]
    rsum = next(d for d in rows["CAA at test"]["test"] if d["metric"] == "rsum")
    # item 2 moves from rank 1 to rank 0: +100 (R@1) in one of 4 queries, in both directions
    assert rsum["mean"] == pytest.approx(2 * 100.0 / 4) and rsum["per_seed"] == pytest.approx([50.0] * 3)
