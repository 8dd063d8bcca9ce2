"""benchmarks/runs.py: the settings every FDRDSynth benchmark run shares, config values as train.py
resolves them, and the reuse of finished runs."""
import argparse

from benchmarks import runs


def _args(tmp_path, backbone, quick):
    return argparse.Namespace(backbone=backbone, data_seed=3, shots=16, quick=quick, opts=[], data=str(tmp_path))


def test_every_run_trains_beside_the_val_gallery_the_tuning_chose(tmp_path, tiny_clip_files):
    for quick, val in ((False, runs.VAL_IMAGES), (True, runs.QUICK_VAL_IMAGES)):
        a = _args(tmp_path, tiny_clip_files["described"], quick)
        spec, common = runs.run_settings(a)
        opts = dict(zip(common[::2], common[1::2]))
        assert spec["VAL_IMAGES_PER_DOMAIN"] == val and opts["DATASET.FDRD_SYNTH.VAL_IMAGES_PER_DOMAIN"] == str(val)
        assert opts["DATASET.FDRD_SYNTH.SEED"] == "3" and opts["INPUT.SIZE"] == "(32, 32)"
        assert a.backbone_tag and (opts["DATASET.NUM_SHOTS"] == "3") == quick


def test_config_values_and_loss_keys_resolve_as_train_py_does():
    got = runs.config_values("MaPLe", ["DATALOADER.TRAIN_X.BATCH_SIZE", "MODEL.BACKBONE.NAME", "DATASET.NAME"])
    assert got == {"DATALOADER.TRAIN_X.BATCH_SIZE": 32, "MODEL.BACKBONE.NAME": "synth-small", "DATASET.NAME": "FDRDSynth"}
    assert runs.config_values("CoOp", ["TRAINER.COOP.LOSS"], ["TRAINER.COOP.LOSS", "i2t"]) == {"TRAINER.COOP.LOSS": "i2t"}
    assert runs.loss_key("CLIP_Adapter") == "TRAINER.CLIP_ADAPTER.LOSS"
    assert runs.loss_key("FullFineTune") == "TRAINER.FINETUNE.LOSS"


def test_a_run_without_results_is_not_taken_as_finished(tmp_path):
    argv = ["--trainer", "CoOp", "--dataset-config-file", runs.DATASET_CONFIG, "--config-file",
            "configs/trainers/CoOp/synth.yaml", "--output-dir", str(tmp_path / "run")]
    assert not runs.already_finished(argv) and not runs.already_finished([*argv, "--eval-only"])
