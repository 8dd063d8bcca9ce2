"""Shared fixtures: configs for the toy trainer and tiny CLIP checkpoints in both formats."""
from __future__ import annotations

import os
import sys
import warnings

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from plugins import default_cfg, load_plugins  # noqa: E402

load_plugins()
from tests import toy  # noqa: E402,F401  (registers ToyColours / ToyTrainer)

SHARED = os.path.join(os.path.dirname(ROOT), "shared")


@pytest.fixture(autouse=True)
def _restore_stdout():
    """train.main() tees stdout into a log file; undo that after each test."""
    saved = sys.stdout
    yield
    if sys.stdout is not saved:
        sys.stdout.close()
        sys.stdout = saved


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
    return apply_overrides(cfg, overrides)


def apply_overrides(cfg, overrides: dict):
    """Set config keys given as ``A.B.C`` or ``A__B__C`` (usable as keyword arguments)."""
    for key, value in overrides.items():
        node = cfg
        *parents, leaf = key.replace("__", ".").split(".")
        for p in parents:
            node = node[p]
        node[leaf] = value
    return cfg


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


@pytest.fixture(scope="session")
def tiny_clip_files(tmp_path_factory):
    """A tiny CLIP saved as a plain state dict and as a traced TorchScript archive."""
    import clip

    folder = tmp_path_factory.mktemp("tiny_clip")
    model = tiny_clip_model()
    state_path = folder / "tiny_state_dict.pt"
    torch.save(model.state_dict(), state_path)
    image = torch.randn(2, 3, 32, 32)
    text = clip.tokenize(["a photo of a cat.", "a dog"])
    with warnings.catch_warnings():  # tracing warnings and jit deprecation are expected here
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(model, (image, text), check_trace=False)
        jit_path = folder / "tiny_jit.pt"
        torch.jit.save(traced, str(jit_path))
    return {"state_dict": str(state_path), "jit": str(jit_path), "model": model, "image": image, "text": text}
