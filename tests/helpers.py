"""Helpers shared by the tests (fixtures stay in conftest.py): the toy trainer's config, config
overrides, the tiny CLIP architecture and where the released FDRD files may be found."""
from __future__ import annotations

import contextlib
import os

import pytest
import torch

from configuration import set_values
from plugins import default_cfg

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared")


def toy_cfg(tmp_path, **overrides):
    cfg = default_cfg()
    cfg.DATASET.NAME = "ToyColours"
    cfg.DATASET.ROOT = str(tmp_path / "data")
    cfg.TRAINER.NAME = "ToyTrainer"
    cfg.OUTPUT_DIR = str(tmp_path / "out")
    cfg.INPUT.SIZE = (8, 8)
    cfg.INPUT.TRANSFORMS = ("random_resized_crop", "random_flip", "normalize")
    cfg.DATALOADER.NUM_WORKERS = 0
    cfg.DATALOADER.TRAIN_X.BATCH_SIZE = 4
    cfg.DATALOADER.TEST.BATCH_SIZE = 4
    cfg.OPTIM.NAME = "sgd"
    cfg.OPTIM.LR = 0.05
    cfg.OPTIM.MAX_EPOCH = 4
    cfg.OPTIM.LR_SCHEDULER = "cosine"
    cfg.OPTIM.WARMUP_EPOCH = 1
    cfg.OPTIM.WARMUP_TYPE = "constant"
    cfg.TRAIN.PRINT_FREQ = 100
    cfg.TEST.FINAL_MODEL = "last_step"
    cfg.TEST.EVALUATOR = "Classification"
    return apply_overrides(cfg, overrides)


def apply_overrides(cfg, overrides: dict):
    """Set config keys given as ``A.B.C`` or ``A__B__C`` (usable as keyword arguments)."""
    return set_values(cfg, {key.replace("__", "."): value for key, value in overrides.items()})


TINY_CLIP = dict(
    embed_dim=32,
    image_resolution=32,
    vision_layers=3,
    vision_width=64,
    vision_patch_size=8,
    context_length=77,
    vocab_size=49408,
    transformer_width=64,
    transformer_heads=1,
    transformer_layers=3,
)


def tiny_clip_model(seed: int = 0):
    from clip.model import CLIP

    torch.manual_seed(seed)
    return CLIP(**TINY_CLIP).eval()


class Killed(Exception):
    """Raised by ``killed_after_epoch`` where a kill would stop the run."""


@contextlib.contextmanager
def killed_after_epoch(trainer_class: type, epoch: int):
    """Runs of ``trainer_class`` inside the block stop (raise ``Killed``) right after epoch ``epoch``
    (1-based) has finished and written its checkpoint, as a killed process would; the block must stop so."""
    original = trainer_class.after_epoch

    def after_epoch_then_die(self):
        original(self)
        if self.epoch + 1 == epoch:
            raise Killed

    trainer_class.after_epoch = after_epoch_then_die
    try:
        with pytest.raises(Killed):
            yield
    finally:
        trainer_class.after_epoch = original
