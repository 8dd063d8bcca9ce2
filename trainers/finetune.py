"""FullFineTune: the whole CLIP (both towers) fine-tuned with L_con on the same shots -- not a
prompt method but the reference that shows how much room a testbed leaves above zero-shot (the
upper-bound row of the synthetic benchmark, docs/results/synthetic_benchmark.md)."""
from __future__ import annotations

from typing import Any

from torch import nn
from yacs.config import CfgNode as CN

from engine import TRAINER_REGISTRY
from engine.precision import Precision

from .base import RetrievalTrainer
from .model import PromptedCLIP, prompted_clip


def extend_cfg(cfg: Any) -> None:
    c = CN()
    c.PREC = "amp"  # fp32 on CPU; the weights train in fp32 either way
    c.LOSS = "symmetric"  # or i2t
    cfg.TRAINER.FINETUNE = c


def whole_model(clip_model: nn.Module, model: PromptedCLIP,
                **more: nn.Module) -> tuple[PromptedCLIP, dict[str, nn.Module]]:
    """``model`` with every CLIP weight training except the temperature (CLIP's, frozen as in the
    prompt methods), registered under the run-folder name ``clip`` with ``more`` beside them (what the
    checkpoint also holds): the trainers that fine-tune the whole model (full fine-tuning, FILIP,
    ALIP, FineCLIP) adopt their model this way."""
    clip_model.logit_scale.requires_grad_(False)
    return model, {"clip": nn.ModuleDict({"clip": clip_model, **more})}


@TRAINER_REGISTRY.register()
class FullFineTune(RetrievalTrainer):
    """Every CLIP weight trains, except the temperature (CLIP's, frozen as in the prompt methods)."""

    FROZEN_CLIP = False

    @classmethod
    def retrieval_model(cls, cfg: Any, clip_model: nn.Module,
                        precision: Precision) -> tuple[PromptedCLIP, dict[str, nn.Module]]:
        return whole_model(clip_model, prompted_clip(cfg, clip_model, precision, train_clip=True))
