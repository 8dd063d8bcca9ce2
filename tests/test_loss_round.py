"""benchmarks/loss_round.py: the two settings per method (the config, the config with the other
LOSS), the rule, the test side read from the benchmark's protocol rows, and a --quick run."""
import argparse
import json
import subprocess
import sys

import pytest

from benchmarks import loss_round as lr
from benchmarks.runs import config_values, loss_key

HIT = {"D": {"i2t": [0, 0], "t2i": [0, 0]}}
MISS = {"D": {"i2t": [50, 50], "t2i": [50, 50]}}
HALF = {"D": {"i2t": [0, 50], "t2i": [0, 50]}}


def _runs(ranks, rsum, seeds=3):
    return [{"metrics": {"rsum": rsum}, "item_ranks": ranks}] * seeds


def _protocol(mean, lo, hi):
    return {"other_minus_config": {"rsum": {"mean": mean, "ci95": [lo, hi], "significant": lo > 0 or hi < 0}}}


@pytest.mark.parametrize("trainer", ["CoOp", "MaPLe"])
def test_trial_one_runs_the_other_direction_and_nothing_else(trainer):
    """CoOp's config trains ``i2t`` and MaPLe's ``symmetric``: fails if trial 1 repeats the config's
    direction or changes another key."""
    key = loss_key(trainer)
    own = config_values(trainer, [key])[key]
    zero, one = lr.round_trials(trainer)
    assert zero.settings == {} and zero.index == 0 and one.index == 1
    assert one.opts == [key, {"i2t": "symmetric", "symmetric": "i2t"}[own]]


def test_the_rule_adopts_only_an_interval_above_zero():
    assert lr.adopts({"mean": 2.0, "ci95": [0.5, 3.5]})
    assert not lr.adopts({"mean": 2.0, "ci95": [-0.1, 4.1]})  # higher mean, but val cannot tell
    assert not lr.adopts({"mean": -2.0, "ci95": [-3.5, -0.5]})  # the config's direction is better


def test_the_test_side_is_the_methods_protocol_row_by_its_table_name():
    bench = {"protocols": {"full fine-tuning (upper bound)": _protocol(7.4, 5.7, 9.0), "CoOp": _protocol(1, -2, 4)}}
    assert lr.protocol_difference("FullFineTune", bench)["mean"] == 7.4  # the row's name, not the trainer's
    assert lr.protocol_difference("CoOp", bench)["ci95"] == [-2, 4]
    assert lr.protocol_difference("MaPLe", bench) is None and lr.protocol_difference("CoOp", None) is None


def test_summary_pairs_other_with_config_and_compares_with_test_and_the_tuning():
    trials = lr.round_trials("CoOp")
    results = {0: _runs(MISS, 100.0), 1: _runs(HIT, 300.0)}  # the other direction finds every item
    bench = {"protocols": {"CoOp": _protocol(16.2, 8.6, 23.9)}}
    tuned = {"methods": {"CoOp": {"chosen": 1, "trials": [{"val_rsum": [0, 0, 0]}, {"val_rsum": [100.0] * 3}]}}}
    m = lr.summarise("CoOp", trials, results, bench, tuned)
    assert m["config_loss"] == "i2t" and m["other_loss"] == "symmetric"
    assert m["other_minus_config"]["mean"] == pytest.approx(600.0)  # R@1, 5, 10 in both directions: 6 x 100
    assert m["val_verdict"] == m["test_verdict"] == "better" and m["val_agrees_with_test"] and m["adopt_other"]
    assert m["val_rsum"] == {"config": [100.0] * 3, "other": [300.0] * 3} and m["reproduces_tuning"] is True
    assert m["half_width"]["seeds"] == 0.0 and m["seeds_for_target"] == 2  # the same difference on every seed
    swapped = lr.summarise("CoOp", trials, {0: results[1], 1: results[0]}, bench, None)  # other worse on val
    assert swapped["val_verdict"] == "worse" and not swapped["adopt_other"] and swapped["val_agrees_with_test"] is False
    assert swapped["reproduces_tuning"] is None and swapped["tuning_val_rsum"] is None
    level = lr.summarise("CoOp", trials, {0: _runs(HALF, 0.0), 1: _runs(HALF, 0.0)}, {"protocols": {}}, tuned)
    assert level["val_verdict"] == "not distinguishable" and level["test_verdict"] is None
    assert level["reproduces_tuning"] is False


def test_reports_of_other_data_are_not_set_beside_the_round(tmp_path):
    path = tmp_path / "bench.json"
    path.write_text(json.dumps({"data_seed": 0, "protocols": {}}))
    args = argparse.Namespace(quick=False, data_seed=0)
    assert lr.comparable(str(path), args) == {"data_seed": 0, "protocols": {}}
    assert lr.comparable(str(path), argparse.Namespace(quick=False, data_seed=7)) is None  # another draw
    assert lr.comparable(str(path), argparse.Namespace(quick=True, data_seed=0)) is None  # the tiny setting
    assert lr.comparable(str(tmp_path / "absent.json"), args) is None


@pytest.mark.slow
def test_quick_round_writes_its_report(tmp_path, tiny_clip_files):
    js, md = tmp_path / "l.json", tmp_path / "l.md"
    cmd = [sys.executable, "benchmarks/loss_round.py", "--quick", "--backbone", tiny_clip_files["described"],
           "--methods", "CoOp", "--seeds", "1", "2", "--data", str(tmp_path / "data"), "--runs", str(tmp_path / "runs"),
           "--json", str(js), "--out", str(md)]
    res = subprocess.run(cmd, cwd=lr.ROOT, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    report = json.loads(js.read_text())
    m = report["methods"]["CoOp"]
    assert report["runs"] == 4 and report["rule"] == lr.RULE and report["val_images_per_domain"] == 6
    assert len(m["val_rsum"]["config"]) == len(m["val_rsum"]["other"]) == 2
    assert m["test_other_minus_config"] is None and m["reproduces_tuning"] is None  # other data: not compared
    assert "| CoOp | i2t |" in md.read_text() and "would need CoOp" in md.read_text()
    assert m["seeds_for_target"] is None or m["seeds_for_target"] >= 2
