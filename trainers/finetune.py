"""FullFineTune: the whole CLIP (both towers) fine-tuned with L_con on the same shots -- not a
prompt method but the reference that shows how much room a testbed leaves above zero-shot (the
upper-bound row of the synthetic benchmark, docs/synthetic_benchmark.md)."""
from __future__ import annotations

from typing import Any

import torch
from torch import nn
from yacs.config import CfgNode as CN

from engine import TRAINER_REGISTRY
from engine import distributed as dist

from .clip_driver import assemble_text, encode_image
from .retrieval import RetrievalTrainer


def extend_cfg(cfg: Any) -> None:
    c = CN()
    c.PREC = "amp"  # fp32 on CPU; the weights train in fp32 either way
    c.LOSS = "symmetric"  # or i2t
    cfg.TRAINER.FINETUNE = c


class Towers(nn.Module):
    """CLIP's two encoders as one module, so that one call (wrapped in DDP when distributed)
    gives both feature sets of a training step."""

    def __init__(self, clip_model: nn.Module, text: Any) -> None:
        super().__init__()
        self.clip, self.text = clip_model, text

    def forward(self, images: torch.Tensor, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return encode_image(self.clip, images), self.text(*assemble_text(self.clip, ids, None))


@TRAINER_REGISTRY.register()
class FullFineTune(RetrievalTrainer):
    """Every CLIP weight trains, except the temperature (CLIP's, frozen as in the prompt methods)."""

    CONFIG_NODE = "FINETUNE"

    def build_model(self) -> None:
        self.build_precision()
        clip_model = self.load_backbone()
        self.check_input_size(clip_model.visual.input_resolution)
        self.logit_scale = float(clip_model.logit_scale.exp())
        clip_model.logit_scale.requires_grad_(False)
        self.clip = clip_model.to(self.device)
        self.towers = Towers(self.clip, self.text_transformer)
        self.register_trainable("clip", self.towers)
        self.train_towers = self.parallel(self.towers)

    def image_tower_is_frozen(self) -> bool:
        return False

    def image_tower(self, images: torch.Tensor) -> torch.Tensor:
        with self.precision.autocast():
            return encode_image(self.clip, images.to(self.device)).float()

    def encode_texts(self, captions: list[str]) -> torch.Tensor:
        with self.precision.autocast():
            return self.text_transformer(*assemble_text(self.clip, self.tokenize(captions), None)).float()

    def forward_backward(self, batch: dict) -> dict[str, float]:
        """L_con over the global batch (see :meth:`RetrievalTrainer.global_contrastive_loss`)."""
        data = self.train_loader_x.dataset.data_source
        idx = batch["index"].tolist()
        with self.precision.autocast():
            img, txt = self.train_towers(batch["img"].to(self.device), self.tokenize([data[i].caption for i in idx]))
            loss, _ = self.global_contrastive_loss(img, txt, idx, self.node().LOSS)
        self.optimisation_step(loss * dist.world_size(), logged=loss.item())
        return {"loss": loss.item()}
