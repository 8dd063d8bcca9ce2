"""benchmarks/harness/runner.py: the settings every FDRDSynth benchmark run shares, config values as train.py
resolves them, and the reuse of finished runs."""
import argparse
import json
import os

import pytest

from benchmarks.harness import runner
from tests.dcar_helpers import small_synth_opts


def _args(tmp_path, backbone, quick):
    return argparse.Namespace(backbone=backbone, data_seed=3, shots=16, quick=quick, opts=[], data=str(tmp_path))


def test_every_run_trains_beside_the_val_gallery_the_tuning_chose(tmp_path, tiny_clip_files):
    for quick, val in ((False, runner.VAL_IMAGES), (True, runner.QUICK_VAL_IMAGES)):
        a = _args(tmp_path, tiny_clip_files["described"], quick)
        spec, common = runner.run_settings(a)
        opts = dict(zip(common[::2], common[1::2]))
        assert spec["VAL_IMAGES_PER_DOMAIN"] == val and opts["DATASET.FDRD_SYNTH.VAL_IMAGES_PER_DOMAIN"] == str(val)
        assert opts["DATASET.FDRD_SYNTH.SEED"] == "3" and opts["INPUT.SIZE"] == "(32, 32)"
        assert a.backbone_tag and (opts["DATASET.NUM_SHOTS"] == "3") == quick


def test_config_values_and_loss_keys_resolve_as_train_py_does():
    got = runner.config_values("MaPLe", ["DATALOADER.TRAIN_X.BATCH_SIZE", "MODEL.BACKBONE.NAME", "DATASET.NAME"])
    assert got == {"DATALOADER.TRAIN_X.BATCH_SIZE": 32, "MODEL.BACKBONE.NAME": "synth-small", "DATASET.NAME": "FDRDSynth"}
    assert runner.config_values("CoOp", ["TRAINER.COOP.LOSS"], ["TRAINER.COOP.LOSS", "i2t"]) == {"TRAINER.COOP.LOSS": "i2t"}
    assert runner.loss_key("CLIP_Adapter") == "TRAINER.CLIP_ADAPTER.LOSS"
    assert runner.loss_key("FullFineTune") == "TRAINER.FINETUNE.LOSS"


def test_a_run_without_results_is_not_taken_as_finished(tmp_path):
    argv = ("--trainer", "CoOp", "--dataset-config-file", runner.DATASET_CONFIG, "--config-file",
            "configs/trainers/CoOp/synth.yaml", "--output-dir", str(tmp_path / "run"))
    model = runner.Job(str(tmp_path / "run"), argv)
    identity = runner.Identities()
    assert not runner.finished_in_folder(model, identity)
    assert not runner.finished_in_folder(runner.Job(str(tmp_path / "eval"), (*argv, "--eval-only"), model), identity)
    assert identity(runner.Job(str(tmp_path / "eval"), argv, model)) != identity(model)  # the model is part of it


def _jobs(tmp_path, ckpt, where: str):
    """A one-epoch CoOp run on a small FDRDSynth and an evaluation of it on val, under ``where``."""
    flags = ("--root", str(tmp_path / "data"), "--seed", "1", "--trainer", "CoOp", "--dataset-config-file",
             runner.DATASET_CONFIG, "--config-file", "configs/trainers/CoOp/synth.yaml")
    opts = ("MODEL.BACKBONE.NAME", ckpt, "OPTIM.MAX_EPOCH", "1", "TEST.FINE_GRAINED", "False", *small_synth_opts())
    model_dir, out = str(tmp_path / where / "model"), str(tmp_path / where / "val")
    model = runner.Job(model_dir, (*flags, "--output-dir", model_dir, *opts))
    return model, runner.Job(out, (*flags, "--output-dir", out, "--eval-only", "--model-dir", model_dir, *opts,
                                 "TEST.SPLIT", "val"), model)


@pytest.mark.slow
def test_runs_come_from_folders_then_records_and_models_train_again_for_new_evaluations(tmp_path, ckpt, capsys):
    """Made once and recorded; another study finds the training run by its identity in the first's
    folder and evaluates it there; on a machine without the folders the records stand for them; an
    evaluation with no record makes its model train again (fails if a record is ignored, if an
    evaluation is attempted without its model's folder, or if a differing rerun passes silently)."""
    records = str(tmp_path / "records")
    model, evaluation = _jobs(tmp_path, ckpt, "first")
    first = runner.resolve([model, evaluation], 1, dict(os.environ), records)
    assert (first.made, first.reused) == (2, 0) and len(os.listdir(records)) == 2
    other_model, other_eval = _jobs(tmp_path, ckpt, "other_study")  # another study's folders, no records
    shared = runner.resolve([other_model, other_eval], 1, dict(os.environ), None, shared=str(tmp_path))
    assert shared.made == 1 and not os.path.exists(other_model.out)  # the model found by its identity in "first"
    assert shared.results[other_eval.out]["model_dir"] == model.out  # the evaluation loads it from there
    assert shared.results[other_eval.out]["metrics"] == first.results[evaluation.out]["metrics"]
    moved_model, moved_eval = _jobs(tmp_path, ckpt, "elsewhere")  # the same runs, other folders: records serve
    again = runner.resolve([moved_model, moved_eval], 1, dict(os.environ), records)
    assert (again.made, again.reused) == (0, 2) and not os.path.exists(moved_model.out)
    assert again.results[moved_eval.out]["metrics"] == first.results[evaluation.out]["metrics"]
    assert again.results[moved_model.out]["curves"] == first.results[model.out]["curves"]
    for name in os.listdir(records):
        if name.startswith(runner.Identities()(moved_eval)):
            os.remove(os.path.join(records, name))  # the evaluation's record is gone: its model must be made again
    third = runner.resolve([moved_model, moved_eval], 1, dict(os.environ), records)
    assert (third.made, third.reused) == (2, 0) and os.path.isfile(os.path.join(moved_model.out, "results.json"))
    record = os.path.join(records, runner.Identities()(moved_model) + ".json")
    changed = json.load(open(record))
    changed["metrics"]["rsum"] += 1.0
    with open(record, "w") as f:
        json.dump(changed, f)
    capsys.readouterr()
    runner.resolve([moved_model], 1, dict(os.environ), records)
    assert f"NOTE: {moved_model.out} does not reproduce its record (1 differences: metrics.rsum" in capsys.readouterr().out


def test_finished_runs_are_found_by_identity_evaluations_and_damaged_files_left_out(tmp_path):
    from plugins import default_cfg
    from reporting.identity import flatten, run_key

    config = {**flatten(default_cfg()), "SEED": 3}
    for folder, content in (("a/seed3", {"config": config}), ("b/eval", {"config": {**config, "SEED": 4}, "eval_only": True}),
                            ("c", None)):
        os.makedirs(tmp_path / folder)
        (tmp_path / folder / "results.json").write_text(json.dumps(content) if content else '{"config": {')
    assert runner.finished_runs(str(tmp_path)) == {run_key(config): str(tmp_path / "a" / "seed3")}
