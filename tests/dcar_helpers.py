"""Configs for trainer tests: a trainer's synth config on a small FDRDSynth with the tiny CLIP
(32-px input, 3 layers) the tests build."""
from __future__ import annotations

import torch

import engine
from configuration import build_cfg
from tests.helpers import killed_after_epoch

TINY_DCAR = "configs/trainers/DCAR/synth.yaml"
# A small FDRDSynth and the tiny CLIP's input size, as trailing train.py options.
SMALL_SYNTH = {"DATASET.FDRD_SYNTH.NUM_DOMAINS": 1, "DATASET.FDRD_SYNTH.CLASSES_PER_DOMAIN": 8,
               "DATASET.FDRD_SYNTH.TRAIN_PER_CLASS": 4, "DATASET.FDRD_SYNTH.TEST_IMAGES_PER_DOMAIN": 16,
               "DATASET.FDRD_SYNTH.IMAGE_SIZE": 32, "INPUT.SIZE": (32, 32), "DATALOADER.TRAIN_X.BATCH_SIZE": 8}


def config_file(trainer: str) -> str:
    return f"configs/trainers/{trainer}/synth.yaml"


def small_synth_opts(**more) -> list[str]:
    """``SMALL_SYNTH`` (and ``more``, with ``__`` for dots) as ``KEY VALUE`` strings."""
    items = {**SMALL_SYNTH, **{k.replace("__", "."): v for k, v in more.items()}}
    return [x for k, v in items.items() for x in (k, str(v))]


def dcar_cfg(tmp_path, ckpt, trainer="DCAR", config=TINY_DCAR, **opts):
    """The small FDRDSynth and ``config`` with ``opts`` (``A__B`` for ``A.B``), built as train.py
    builds a run's config (the backbone's settings applied), not frozen."""
    values = {"TRAINER.NAME": trainer, "DATASET.ROOT": str(tmp_path / "data"), "OUTPUT_DIR": str(tmp_path / "out"),
              "SEED": 1, "MODEL.BACKBONE.NAME": ckpt, "VERBOSE": False,
              **{k.replace("__", "."): v for k, v in {**SMALL_SYNTH, **opts}.items()}}
    return build_cfg(["configs/datasets/fdrd_synth.yaml", config], values=values, freeze=False)


def trainer_cfg(tmp_path, ckpt, trainer: str, **opts):
    """:func:`dcar_cfg` with ``trainer``'s synth config."""
    return dcar_cfg(tmp_path, ckpt, trainer=trainer, config=config_file(trainer), **opts)


def build(cfg, seed=1):
    engine.set_random_seed(seed)
    return engine.build_trainer(cfg)


def trainable(trainer):
    """The module a trainer registered for training (what its checkpoints hold)."""
    names = trainer.get_model_names()
    assert len(names) == 1, names
    return trainer._models[names[0]]


def steps_on_one_batch(trainer, n: int = 1) -> list[float]:
    """``n`` training steps on the first batch of the training loader (seeded); their losses."""
    trainer.set_model_mode("train")
    trainer.num_batches, trainer.batch_idx = 10**6, 0
    torch.manual_seed(0)
    batch = next(iter(trainer.train_loader_x))
    return [trainer.forward_backward(batch)["loss"] for _ in range(n)]


def reloaded_test(cfg) -> dict:
    """The test metrics of a trainer built from ``cfg`` with another seed that loads the run's
    checkpoint (a trained run must give them identically)."""
    fresh = build(cfg, seed=5)
    fresh.load_model(cfg.OUTPUT_DIR)
    return fresh.test()


def resumed_equals_uninterrupted(make_cfg, reload: bool = False) -> None:
    """Train ``make_cfg("whole")`` for its epochs; train ``make_cfg("killed")`` until epoch 1's
    checkpoint is written, stop it there, rebuild it with another seed and let it resume: its trained
    weights and test metrics must equal the uninterrupted run's (everything must come from the
    checkpoint: optimiser, schedule, random state and any state the trainer keeps across epochs).
    ``reload``: also a fresh trainer loading the uninterrupted run's checkpoint gives its metrics
    (:func:`reloaded_test`), on the same runs."""
    whole = build(make_cfg("whole"))
    whole.train()
    with killed_after_epoch(type(whole), 1):
        build(make_cfg("killed")).train()
    resumed = build(make_cfg("killed"), seed=123)
    resumed.train()
    assert resumed.start_epoch == 1
    want = trainable(whole).state_dict()
    for name, value in trainable(resumed).state_dict().items():
        assert torch.equal(value, want[name]), name
    assert resumed.test() == whole.test()
    if reload:
        assert reloaded_test(make_cfg("whole")) == whole.test()
