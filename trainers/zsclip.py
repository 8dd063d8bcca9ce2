"""ZeroshotCLIP: frozen CLIP on the raw captions (the CLIP column of the results table)."""
from __future__ import annotations

from typing import Any

from torch import nn
from yacs.config import CfgNode as CN

from engine import TRAINER_REGISTRY
from engine.precision import Precision

from .base import RetrievalTrainer
from .model import PromptedCLIP, prompted_clip


def extend_cfg(cfg: Any) -> None:
    cfg.TRAINER.ZSCLIP = CN()
    cfg.TRAINER.ZSCLIP.PREC = "amp"  # fp32 on CPU


@TRAINER_REGISTRY.register()
class ZeroshotCLIP(RetrievalTrainer):
    """Nothing is trained: ``train()`` and ``--eval-only`` both evaluate the frozen model."""

    @classmethod
    def retrieval_model(cls, cfg: Any, clip_model: nn.Module,
                        precision: Precision) -> tuple[PromptedCLIP, dict[str, nn.Module]]:
        """CLIP alone: nothing trains."""
        return prompted_clip(cfg, clip_model, precision), {}

    def train(self) -> None:  # type: ignore[override]
        print("ZeroshotCLIP has nothing to train: evaluating the frozen model")
        self.test()
