"""benchmarks/studies/tuning.py: the search (trial 0 = the config, deterministic distinct draws, equal
dimensions for every method), the rule, the runs it asks for (val only), and the synth configs
holding what it chose."""
import argparse
import json

import pytest

from benchmarks.harness.runner import config_values, loss_key, untuned
from benchmarks.studies import loss_round as lr
from benchmarks.studies import tuning as tu
from benchmarks.studies.synthetic_benchmark import TUNING_JSON


def test_the_round_starts_where_the_committed_round_started_and_draws_its_trials_again():
    """Trial 0 runs the settings the committed round's trial 0 ran (``runner.untuned``), and every
    trial draws the committed round's settings again, whatever the synth configs say since: fails
    when trial 0 follows the tuned configs (the round would be a new one, its runs not found again)."""
    with open(TUNING_JSON, encoding="utf-8") as f:
        report = json.load(f)
    for trainer, m in report["methods"].items():
        again = tu.trials(trainer, report["trials"])
        assert [t.settings for t in again] == [row["settings"] for row in m["trials"]], trainer
        runs_with = json.loads(json.dumps([tu.as_config(trainer, t.settings) for t in again]))  # as the report holds them
        assert runs_with == [row["runs_with"] for row in m["trials"]], trainer


def test_trial_zero_is_the_config_and_draws_are_reproducible_and_distinct():
    first, again = tu.trials("CoOp", 6), tu.trials("CoOp", 6)
    assert first == again and first[0].settings == {} and first[0].opts == []
    configs = [tu.as_config("CoOp", t.settings) for t in first]
    assert all(configs[i] != configs[j] for i in range(6) for j in range(i))
    assert tu.trials("CoOp", 8)[:6] == first  # more trials never change the earlier ones


def test_a_draw_running_the_configs_own_settings_is_drawn_again(monkeypatch):
    """A draw equal in effect to trial 0 (setting the config's own ``LOSS``) is not a new trial:
    fails if draws are compared by their keys rather than by the settings they run."""
    own = config_values("CoOp", ["TRAINER.COOP.LOSS"], untuned("CoOp"))["TRAINER.COOP.LOSS"]
    other = "i2t" if own == "symmetric" else "symmetric"
    space = {"loss": [{"TRAINER.COOP.LOSS": own}, {"TRAINER.COOP.LOSS": other}]}
    monkeypatch.setattr(tu, "search_space", lambda trainer, quick=False: space)
    assert [t.settings for t in tu.trials("CoOp", 2)] == [{}, {"loss": {"TRAINER.COOP.LOSS": other}}]


def test_every_method_searches_the_same_budget_and_dcar_its_own_keys_too():
    spaces = {m: tu.search_space(m) for m in tu.METHODS}
    for m, space in spaces.items():
        assert space["epochs"] == [{"OPTIM.MAX_EPOCH": str(e)} for e in tu.EPOCHS]
        lr = tu.config_value(m, "OPTIM.LR")
        assert [float(c["OPTIM.LR"]) for c in space["learning rate"]] == pytest.approx([lr * f for f in tu.LR_FACTORS])
        assert {c[loss_key(m)] for c in space["loss"]} == {"symmetric", "i2t"}
        for choices in space.values():  # every key a choice sets exists and takes its value
            for choice in choices:
                got = tu.as_config(m, {"x": choice})
                assert all(str(got[k]) == v for k, v in choice.items())
    assert set(spaces["DCAR"]) - set(spaces["CoOp"]) == {"lambda", "alpha", "category negatives",
                                                         "attribute negatives", "attribute-swap generator", "CAA at test"}


def _runs(*rsums):
    return [{"metrics": {"rsum": r}} for r in rsums]


def test_the_rule_takes_the_best_mean_over_seeds_and_ties_to_the_lower_trial():
    assert tu.choose({0: _runs(10, 20), 1: _runs(30, 1), 2: _runs(16, 16)}) == 2  # not the best single seed
    assert tu.choose({0: _runs(10, 20), 1: _runs(15, 15), 2: _runs(20, 10)}) == 0


def test_every_trial_runs_the_same_seeds_on_val_only(tmp_path):
    a = argparse.Namespace(seeds=[1, 2, 3], runs=str(tmp_path), data="data", data_seed=0, backbone_tag="abc",
                           quick=False)
    every = [t for m in ("CoOp", "DCAR") for t in tu.trials(m, 2)]
    jobs = tu.jobs(a, ["DATASET.NUM_SHOTS", "16"], every)
    assert len(jobs) == len({job.out for job in jobs}) == 4 * 3
    for argv in (job.argv for job in jobs):
        opts = dict(zip(argv[argv.index("16") + 1::2], argv[argv.index("16") + 2::2]))
        assert opts["TEST.SPLIT"] == "val" and opts["TEST.FINE_GRAINED"] == "False" and opts["TRAIN.VAL_FREQ"] == "0"
    assert [job.argv[job.argv.index("--seed") + 1] for job in jobs[:3]] == ["1", "2", "3"]
    assert jobs[0].out.endswith("dcar/trial0/seed1")  # the longest method first within a trial


def test_summary_pairs_the_chosen_trial_with_trial_zero():
    ranks = {"D": {"i2t": [0, 50], "t2i": [0, 50]}}
    miss = {"D": {"i2t": [50, 50], "t2i": [50, 50]}}
    ts = tu.trials("CoOp", 2)
    results = {0: [{"metrics": {"rsum": 1.0, "i2t_R@1": 0, "t2i_R@1": 0}, "item_ranks": miss}] * 2,
               1: [{"metrics": {"rsum": 2.0, "i2t_R@1": 0, "t2i_R@1": 0}, "item_ranks": ranks}] * 2}
    m = tu.summarise("CoOp", ts, results, quick=False)
    assert m["chosen"] == 1 and m["chosen_opts"] == ts[1].opts
    assert m["chosen_vs_trial0"]["mean"] == pytest.approx(300.0) and m["trials"][1]["mean_val_rsum"] == 2.0
    assert m["trials"][1]["runs_with"]["OPTIM.LR"] == float(ts[1].settings["learning rate"]["OPTIM.LR"])
    assert tu.summarise("CoOp", ts, {0: results[1], 1: results[0]}, quick=False)["chosen_vs_trial0"] is None


def test_the_synth_configs_run_the_settings_chosen_on_val():
    """Every method's synth config resolves to the settings its chosen trial ran (docs/results/bench_tuning.json),
    with the L_con direction the loss round adopted where it adopted one (docs/results/bench_loss_round.json):
    fails when a config is edited after the tuning, a chosen setting was not written into it, or the
    loss round's choice was not (or was where the round kept the tuned direction)."""
    with open(TUNING_JSON, encoding="utf-8") as f:
        methods = json.load(f)["methods"]
    with open(lr.arguments().get_default("json"), encoding="utf-8") as f:
        adoptions = json.load(f)["methods"]
    assert set(methods) == set(tu.METHODS) == set(adoptions)
    for trainer, m in methods.items():
        keys = [k for choice in m["chosen_settings"].values() for k in choice]
        adopted = [loss_key(trainer), adoptions[trainer]["other_loss"]] if adoptions[trainer]["adopt_other"] else []
        assert config_values(trainer, keys) == config_values(trainer, keys, [*m["chosen_opts"], *adopted]), trainer
