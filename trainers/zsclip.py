"""ZeroshotCLIP: frozen CLIP on the raw captions (the CLIP column of the results table)."""
from __future__ import annotations

from typing import Any

import torch
from yacs.config import CfgNode as CN

from engine import TRAINER_REGISTRY

from .retrieval import RetrievalTrainer


def extend_cfg(cfg: Any) -> None:
    cfg.TRAINER.ZSCLIP = CN()
    cfg.TRAINER.ZSCLIP.PREC = "amp"  # fp32 on CPU


@TRAINER_REGISTRY.register()
class ZeroshotCLIP(RetrievalTrainer):
    """Nothing is trained: ``train()`` and ``--eval-only`` both evaluate the frozen model."""

    CONFIG_NODE = "ZSCLIP"

    def build_model(self) -> None:
        self.build_frozen_clip()

    def train(self) -> None:  # type: ignore[override]
        print("ZeroshotCLIP has nothing to train: evaluating the frozen model")
        self.test()

    def cache_train_features(self) -> None:
        """Nothing trains, so no training image is encoded."""

    def encode_texts(self, captions: list[str]) -> torch.Tensor:
        return self.frozen_text(self.tokenize(captions))
