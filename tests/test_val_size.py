"""benchmarks/studies/val_size.py: the half-widths of a paired difference, the size rule (written before
any run), and the runs it asks for."""
import argparse

import pytest

from benchmarks.studies import val_size as vs


def _row(size, pair, overall, items, seeds):
    return {"size": size, "pair": pair, "half_width": {"overall": overall, "items": items, "seeds": seeds}}


def test_the_smallest_size_where_both_pairs_meet_the_target_is_chosen():
    rows = [_row(501, "between methods", 3.5, 3.5, 1.0), _row(501, "within a method", 2.0, 2.0, 1.0),
            _row(1002, "between methods", 2.9, 2.5, 2.9), _row(1002, "within a method", 3.0, 2.0, 3.0),
            _row(2001, "between methods", 2.0, 1.0, 2.0), _row(2001, "within a method", 1.0, 1.0, 1.0)]
    assert vs.choose(rows, (501, 1002, 2001)) == {"chosen": 1002, "target_met": True, "chosen_half_width": 3.0}


def test_unmet_target_takes_the_largest_size_and_names_what_is_in_the_way():
    rows = [_row(501, "between methods", 9.0, 4.0, 9.0), _row(501, "within a method", 2.0, 2.0, 1.0),
            _row(2001, "between methods", 8.0, 1.5, 8.0), _row(2001, "within a method", 3.5, 1.0, 3.5)]
    report = vs.choose(rows, (501, 2001))
    assert report == {"chosen": 2001, "target_met": False, "chosen_half_width": 8.0,
                      "in_the_way": "seeds (training randomness)"}
    rows[2]["half_width"] = {"overall": 8.0, "items": 8.0, "seeds": 1.0}
    assert vs.choose(rows, (501, 2001))["in_the_way"] == "items (the gallery's size)"


def test_summary_pairs_the_same_seeds_and_sizes():
    """DCAR beats MaPLe on one val item of two in every seed at size 6, on none at size 12."""
    seeds, sizes = [1, 2, 3], (6, 12)
    hit, miss = {"D": {"i2t": [0, 50], "t2i": [0, 50]}}, {"D": {"i2t": [50, 50], "t2i": [50, 50]}}
    results = {}
    for s in seeds:
        for size in sizes:
            results[("MaPLe", size, s)] = {"item_ranks": miss, "metrics": {"rsum": 0.0}}
            results[("DCAR", size, s)] = {"item_ranks": hit if size == 6 else miss, "metrics": {"rsum": 0.0}}
            results[("DCAR lambda 0.5", size, s)] = {"item_ranks": miss, "metrics": {"rsum": 0.0}}
    report = vs.summarise(results, sizes, seeds)
    between = {r["size"]: r for r in report["rows"] if r["pair"] == "between methods"}
    assert between[6]["mean"] == pytest.approx(300.0) and between[12]["mean"] == 0.0  # 3 recalls x 2 directions x 50%
    assert between[6]["half_width"]["seeds"] == 0.0 and between[6]["half_width"]["items"] > 0
    within = {r["size"]: r for r in report["rows"] if r["pair"] == "within a method"}
    assert within[6]["mean"] == pytest.approx(-300.0)  # lambda 0.5 - DCAR
    assert report["chosen"] == 12 and report["target_met"]


def test_each_checkpoint_is_evaluated_on_every_val_size(tmp_path):
    a = argparse.Namespace(seeds=[1, 2], runs=str(tmp_path / "runs"), data=str(tmp_path / "data"), data_seed=0,
                           backbone_tag="abc")
    train, evaluate, where = vs.jobs(a, ["DATASET.NUM_SHOTS", "16"], (6, 12))
    assert len(train) == 3 * 2 and len(evaluate) == 3 * 2 * 2 and len(where) == len(evaluate)
    for argv in (job.argv for job in train):
        i = argv.index("DATASET.FDRD_SYNTH.VAL_IMAGES_PER_DOMAIN")
        assert argv[i + 1] == "12" and argv[argv.index("TRAIN.VAL_FREQ") + 1] == "0"  # the largest val, once
    trained = {job.out: job for job in train}
    for (_, size, seed), out in where.items():
        job = next(j for j in evaluate if j.out == out)
        argv = job.argv
        assert argv[argv.index("--model-dir") + 1] in trained and f"seed{seed}" in argv[argv.index("--model-dir") + 1]
        assert job.model is trained[argv[argv.index("--model-dir") + 1]]  # the runner knows which model it evaluates
        assert argv[argv.index("DATASET.FDRD_SYNTH.VAL_IMAGES_PER_DOMAIN") + 1] == str(size)
        assert argv[argv.index("TEST.SPLIT") + 1] == "val" and "--eval-only" in argv
    import train as train_py

    for argv in (job.argv for job in train + evaluate):  # what train.py will parse: flags first, then KEY VALUE pairs
        args = train_py.build_parser().parse_args(argv)
        assert len(args.opts) % 2 == 0 and not any(o.startswith("--") for o in args.opts[::2])
    lam = next(job.argv for job in train if "dcar_lambda_0_5" in job.out)
    assert lam[len(lam) - lam[::-1].index("TRAINER.DCAR.CATE.LAMBDA")] == "0.5"  # the last setting of the key wins


def test_the_settings_are_the_configs_before_the_tuning(tmp_path):
    """The val gallery was sized before the tuning: its runs resolve to the untuned settings whatever
    the synth configs say since (fails if they follow the tuned configs: MaPLe's learning rate
    stayed, DCAR's moved from 0.01 to 0.002 and its generator from lexicon to domain)."""
    from benchmarks.harness.runner import Identities

    a = argparse.Namespace(seeds=[1], runs=str(tmp_path / "runs"), data=str(tmp_path / "data"), data_seed=0,
                           backbone_tag="abc")
    train, _, _ = vs.jobs(a, ["DATASET.NUM_SHOTS", "16"], (6,))
    identity = Identities()
    resolved = {}
    for job in train:
        identity(job)
        resolved[job.out.split("/")[-2]] = identity.configs[job]
    assert resolved["dcar"].OPTIM.LR == 0.01 and resolved["dcar"].DATASET.FDRD.ATTRIBUTE_SWAPS == "lexicon"
    assert resolved["dcar_lambda_0_5"].TRAINER.DCAR.CATE.LAMBDA == 0.5 and resolved["dcar"].TRAINER.DCAR.CATE.LAMBDA == 1.0
    assert resolved["maple"].OPTIM.LR == 0.01 and resolved["maple"].OPTIM.MAX_EPOCH == 10
