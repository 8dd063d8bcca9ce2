"""CLIP-Adapter for caption retrieval: the residual bottleneck adapter on frozen CLIP's image
features (optionally on the text features too), trained with L_con (docs/method.md, "Baselines")."""
from __future__ import annotations

from typing import Any

from torch import nn
from yacs.config import CfgNode as CN

from engine import TRAINER_REGISTRY
from engine.precision import Precision

from .base import RetrievalTrainer
from .model import PromptedCLIP, ResidualAdapter, prompted_clip


def extend_cfg(cfg: Any) -> None:
    c = CN()
    c.RATIO = 0.2  # residual blending ratio
    c.REDUCTION = 4  # bottleneck width = D / REDUCTION
    c.TEXT_ADAPTER = False  # also adapt the text features
    c.PREC = "amp"
    c.LOSS = "symmetric"  # or i2t
    cfg.TRAINER.CLIP_ADAPTER = c


@TRAINER_REGISTRY.register()
class CLIP_Adapter(RetrievalTrainer):  # noqa: N801 - CLIP-Adapter's registry name
    """The frozen CLIP image encoder (its features are cached when exact) with the adapter as
    image head (and a second one as text head)."""

    @classmethod
    def retrieval_model(cls, cfg: Any, clip_model: nn.Module,
                        precision: Precision) -> tuple[PromptedCLIP, dict[str, nn.Module]]:
        c = cfg.TRAINER.CLIP_ADAPTER
        dim = clip_model.text_projection.shape[1]
        heads = nn.ModuleDict({"image": ResidualAdapter(dim, dim // c.REDUCTION, c.RATIO)})
        if c.TEXT_ADAPTER:
            heads["text"] = ResidualAdapter(dim, dim // c.REDUCTION, c.RATIO)
        heads = heads.to(precision.device)
        text_head = heads["text"] if "text" in heads else None
        model = prompted_clip(cfg, clip_model, precision, image_head=heads["image"], text_head=text_head)
        return model, {"adapter": heads}
