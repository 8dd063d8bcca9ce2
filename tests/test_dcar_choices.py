"""benchmarks/studies/dcar_choices.py: the val decision rule and the pairing of each candidate with its reference."""
import argparse
import json

import pytest

from benchmarks.harness.records import load
from benchmarks.studies import dcar_choices as dc


def _run(folder, rsum: float, test_hits: list[int], split: str = "test"):
    folder.mkdir(parents=True)
    ranks = {"D": {"i2t": test_hits, "t2i": test_hits}}
    metrics = {"rsum": rsum if split == "val" else 100.0 * sum(h < k for h in test_hits for k in (1, 5, 10)) * 2
               / len(test_hits), "negdisc_category": 80.0}
    (folder / "results.json").write_text(json.dumps({"split": split, "metrics": metrics, "item_ranks": ranks}))
    return str(folder)


def test_a_candidate_is_adopted_only_when_its_val_interval_is_above_zero(tmp_path):
    """Val decides (each candidate's val evaluation against the reference checkpoints' own val
    evaluation, paired by seed), test reports: fails if the test split decides, if a mean above 0
    with an interval holding 0 is adopted, or if seeds are paired out of order."""
    seeds = [1, 2, 3]
    where = {"": {s: {"test": _run(tmp_path / "ref" / str(s), 0.0, [0, 1, 20, 0]),
                      "val": _run(tmp_path / "ref_val" / str(s), 400.0 + s, [0], split="val")} for s in seeds}}
    gains = {"attribute swaps: lexicon generator": [5.0, 6.0, 7.0],  # clearly above 0: adopted
             "DTR patch similarity, max": [5.0, -5.0, 1.0],  # mean > 0 but the interval holds 0: kept
             "CAA at test": [2.0, 3.0, 4.0]}
    for c in dc.CANDIDATES:
        where[c.name] = {s: {"test": _run(tmp_path / c.slug / str(s), 0.0, [0, 0, 20, 0]),
                             "val": _run(tmp_path / c.slug / f"val{s}", 400.0 + s + gains.get(c.name, [-1.0, -2.0, -3.0])[s - 1],
                                         [0], split="val")} for s in seeds}
    results = {f: load(f) for w in where.values() for r in w.values() for f in r.values()}
    report = dc.summarise(argparse.Namespace(seeds=seeds, data_seed=0, backbone="b"), where, results)
    rows = report["rows"]
    assert rows["attribute swaps: lexicon generator"]["adopted"]
    assert rows["attribute swaps: lexicon generator"]["val_rsum_difference"]["mean"] == pytest.approx(6.0)
    assert not rows["DTR patch similarity, max"]["adopted"]
    assert not rows["DTR noise floor 0.02"]["adopted"]  # better on test (see below), worse on val: kept
    assert rows["CAA at test"]["val_rsum_difference"]["per_seed"] == pytest.approx([2.0, 3.0, 4.0])
    assert rows["CAA at test"]["adopted"]
    rsum = next(d for d in rows["DTR noise floor 0.02"]["test"] if d["metric"] == "rsum")
    # item 2 moves from rank 1 to rank 0: +100 (R@1) in one of 4 queries, in both directions
    assert rsum["mean"] == pytest.approx(2 * 100.0 / 4) and rsum["per_seed"] == pytest.approx([50.0] * 3)
    assert report["reference"]["val_rsum"] == pytest.approx(402.0)
