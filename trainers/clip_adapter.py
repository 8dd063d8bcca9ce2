"""CLIP-Adapter for caption retrieval: the residual bottleneck adapter on frozen CLIP's image
features (optionally on the text features too), trained with L_con (docs/method.md §11)."""
from __future__ import annotations

from typing import Any

import torch
from torch import nn
from yacs.config import CfgNode as CN

from engine import TRAINER_REGISTRY
from engine import distributed as dist

from .adapters import ResidualAdapter
from .retrieval import RetrievalTrainer


def extend_cfg(cfg: Any) -> None:
    c = CN()
    c.RATIO = 0.2  # residual blending ratio
    c.REDUCTION = 4  # bottleneck width = D / REDUCTION
    c.TEXT_ADAPTER = False  # also adapt the text features
    c.PREC = "amp"
    c.LOSS = "symmetric"  # or i2t
    cfg.TRAINER.CLIP_ADAPTER = c


class AdapterLearner(nn.Module):
    def __init__(self, dim: int, c: Any) -> None:
        super().__init__()
        self.image = ResidualAdapter(dim, dim // c.REDUCTION, c.RATIO)
        self.text = ResidualAdapter(dim, dim // c.REDUCTION, c.RATIO) if c.TEXT_ADAPTER else None

    def text_head(self, text_feats: torch.Tensor) -> torch.Tensor:
        """Text features, adapted when there is a text adapter."""
        return text_feats if self.text is None else self.text(text_feats)

    def forward(self, image_feats: torch.Tensor, text_feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Adapted image and text features."""
        return self.image(image_feats), self.text_head(text_feats)


@TRAINER_REGISTRY.register()
class CLIP_Adapter(RetrievalTrainer):  # noqa: N801 - CLIP-Adapter's registry name
    """The image tower is the frozen CLIP image encoder (its features are cached when exact);
    the adapter is the image head."""

    CONFIG_NODE = "CLIP_ADAPTER"

    def build_model(self) -> None:
        clip_model = self.build_frozen_clip()
        self.learner = AdapterLearner(clip_model.text_projection.shape[1], self.node()).to(self.device)
        self.register_trainable("adapter", self.learner)
        self.train_learner = self.parallel(self.learner)

    def image_head(self, feats: torch.Tensor) -> torch.Tensor:
        return self.learner.image(feats)

    def encode_texts(self, captions: list[str]) -> torch.Tensor:
        return self.learner.text_head(self.frozen_text(self.tokenize(captions)))

    def forward_backward(self, batch: dict) -> dict[str, float]:
        """L_con over the global batch (:meth:`RetrievalTrainer.global_contrastive_loss`)."""
        data = self.train_loader_x.dataset.data_source
        idx = batch["index"].tolist()
        captions = self.frozen_text(self.tokenize([data[i].caption for i in idx]))
        img, txt = self.train_learner(self.train_image_tower(batch), captions)
        loss, _ = self.global_contrastive_loss(img, txt, idx, self.node().LOSS)
        self.optimisation_step(loss * dist.world_size(), logged=loss.item())
        return {"loss": loss.item()}
