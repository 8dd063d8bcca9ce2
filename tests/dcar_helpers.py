"""Configs for DCAR tests: the tiny config on a small FDRDSynth with a tiny CLIP."""
from __future__ import annotations

import engine
from engine.plugins import default_cfg
from tests.conftest import apply_overrides

TINY_DCAR = "configs/trainers/DCAR/tiny_ep5_batch16_2ctx.yaml"


def dcar_cfg(tmp_path, ckpt, trainer="DCAR", config=TINY_DCAR, **opts):
    cfg = default_cfg()
    cfg.merge_from_file("configs/datasets/fdrd_synth.yaml")
    cfg.merge_from_file(config)
    cfg.TRAINER.NAME = trainer
    cfg.DATASET.ROOT = str(tmp_path / "data")
    cfg.OUTPUT_DIR = str(tmp_path / "out")
    cfg.SEED = 1
    cfg.MODEL.BACKBONE.NAME = ckpt
    s = cfg.DATASET.FDRD_SYNTH
    s.NUM_DOMAINS, s.CLASSES_PER_DOMAIN, s.TRAIN_PER_CLASS, s.TEST_PER_CLASS, s.IMAGE_SIZE = 1, 8, 4, 2, 32
    cfg.DATALOADER.TRAIN_X.BATCH_SIZE = 8
    cfg.VERBOSE = False
    return apply_overrides(cfg, opts)


def build(cfg, seed=1):
    engine.set_random_seed(seed)
    return engine.build_trainer(cfg)
