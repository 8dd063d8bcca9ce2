"""benchmarks/studies/loss_round.py: the two settings per method (the tuning's chosen trial, and it with
the other LOSS), the rule, the test side read from the benchmark's protocol rows, and a --quick run."""
import argparse
import json
import subprocess
import sys

import pytest

from benchmarks.harness.runner import loss_key
from benchmarks.studies import loss_round as lr
from benchmarks.studies import tuning as tu

HIT = {"D": {"i2t": [0, 0], "t2i": [0, 0]}}
MISS = {"D": {"i2t": [50, 50], "t2i": [50, 50]}}
HALF = {"D": {"i2t": [0, 50], "t2i": [0, 50]}}


def _runs(ranks, rsum, seeds=3):
    return [{"metrics": {"rsum": rsum}, "item_ranks": ranks}] * seeds


def _protocol(mean, lo, hi, config_loss="i2t"):
    return {"config_loss": config_loss,
            "other_minus_config": {"rsum": {"mean": mean, "ci95": [lo, hi], "significant": lo > 0 or hi < 0}}}


@pytest.mark.parametrize("trainer", ["CoOp", "MaPLe"])
def test_the_round_runs_the_tuned_trial_and_it_with_the_other_direction(trainer):
    """The tuning chose ``LOSS i2t`` for CoOp and kept ``symmetric`` for MaPLe: trial 0 is the chosen
    trial (whatever the config says since the round adopted a direction), trial 1 it with the other
    direction; fails if a trial starts from the current config or repeats the tuned direction."""
    key = loss_key(trainer)
    chosen = {"learning rate": {"OPTIM.LR": "0.002"}, "loss": {key: "i2t"}} if trainer == "CoOp" else {}
    zero, one = lr.round_trials(trainer, {"methods": {trainer: {"chosen_settings": chosen}}})
    assert zero.settings == chosen and zero.index == 0 and one.index == 1
    other = "symmetric" if trainer == "CoOp" else "i2t"
    assert one.settings == {**chosen, "loss": {key: other}}
    assert tu.as_config(trainer, one.settings)[key] == other
    assert lr.round_trials(trainer, None)[0].settings == {}  # no tuning report: the configs before the tuning


def test_the_rule_adopts_only_an_interval_above_zero():
    assert lr.adopts({"mean": 2.0, "ci95": [0.5, 3.5]})
    assert not lr.adopts({"mean": 2.0, "ci95": [-0.1, 4.1]})  # higher mean, but val cannot tell
    assert not lr.adopts({"mean": -2.0, "ci95": [-3.5, -0.5]})  # the config's direction is better


def test_the_test_side_is_the_methods_protocol_row_by_its_table_name_with_its_sign():
    """The benchmark reports its protocol row minus its config row; the round wants other minus
    tuned: the same when the config runs the tuned direction, negated when it runs the adopted one
    (fails if the sign follows the config rather than the directions)."""
    bench = {"protocols": {"full fine-tuning (upper bound)": _protocol(7.4, 5.7, 9.0, "i2t"),
                           "CoOp": _protocol(-16.2, -23.9, -8.6, "symmetric")}}
    assert lr.protocol_difference("FullFineTune", "symmetric", bench)["mean"] == 7.4  # the row's name, not the trainer's
    flipped = lr.protocol_difference("CoOp", "symmetric", bench)  # config runs symmetric, the adopted direction
    assert flipped["mean"] == 16.2 and flipped["ci95"] == [8.6, 23.9] and flipped["significant"]
    assert lr.protocol_difference("MaPLe", "i2t", bench) is None and lr.protocol_difference("CoOp", "i2t", None) is None


def test_summary_pairs_other_with_tuned_and_compares_with_test_and_the_tuning():
    trials = lr.round_trials("CoOp", {"methods": {"CoOp": {"chosen_settings": {"loss": {"TRAINER.COOP.LOSS": "i2t"}}}}})
    results = {0: _runs(MISS, 100.0), 1: _runs(HIT, 300.0)}  # the other direction finds every item
    bench = {"protocols": {"CoOp": _protocol(16.2, 8.6, 23.9)}}
    tuned = {"methods": {"CoOp": {"chosen": 1, "trials": [{"val_rsum": [0, 0, 0]}, {"val_rsum": [100.0] * 3}]}}}
    m = lr.summarise("CoOp", trials, results, bench, tuned)
    assert m["tuned_loss"] == "i2t" and m["other_loss"] == "symmetric"
    assert m["other_minus_tuned"]["mean"] == pytest.approx(600.0)  # R@1, 5, 10 in both directions: 6 x 100
    assert m["val_verdict"] == m["test_verdict"] == "better" and m["val_agrees_with_test"] and m["adopt_other"]
    assert m["val_rsum"] == {"tuned": [100.0] * 3, "other": [300.0] * 3} and m["reproduces_tuning"] is True
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
    cmd = [sys.executable, "-m", "benchmarks", "run", "loss_round", "--quick", "--backbone", tiny_clip_files["described"],
           "--methods", "CoOp", "--seeds", "1", "2", "--data", str(tmp_path / "data"), "--runs", str(tmp_path / "runs"),
           "--json", str(js), "--out", str(md)]
    res = subprocess.run(cmd, cwd=lr.ROOT, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    report = json.loads(js.read_text())
    m = report["methods"]["CoOp"]
    assert report["runs"] == 4 and report["rule"] == lr.RULE and report["val_images_per_domain"] == 6
    assert len(m["val_rsum"]["tuned"]) == len(m["val_rsum"]["other"]) == 2
    assert m["test_other_minus_tuned"] is None and m["reproduces_tuning"] is None  # other data: not compared
    assert m["tuned_loss"] == "symmetric"  # no tuning of this data: trial 0, the configs before it
    assert "would need CoOp" in md.read_text()
    assert m["seeds_for_target"] is None or m["seeds_for_target"] >= 2


def test_the_tuned_direction_runs_are_the_tunings_own(tmp_path):
    """The round's tuned trial is the tuning's chosen trial, run for run (same identity, so the
    runner finds them): fails if the round starts from the config as it is now (CoOp's config runs
    the adopted LOSS symmetric, its chosen trial i2t)."""
    from benchmarks.harness.runner import Identities
    from benchmarks.studies.synthetic_benchmark import TUNING_JSON

    with open(TUNING_JSON, encoding="utf-8") as f:
        tuned = json.load(f)
    a = argparse.Namespace(seeds=[1], runs=str(tmp_path), data="data", data_seed=0, backbone_tag="abc", quick=False)
    chosen = tu.trials("CoOp", tuned["trials"])[tuned["methods"]["CoOp"]["chosen"]]
    ours = lr.round_trials("CoOp", tuned)[0]
    identity = Identities()
    assert [identity(j) for j in tu.jobs(a, [], [chosen])] == [identity(j) for j in tu.jobs(a, [], [ours])]
    assert identity.configs[tu.jobs(a, [], [ours])[0]].TRAINER.COOP.LOSS == "i2t"
