"""ALIP (Yang et al., ICCV 2023) for retrieval: both towers of CLIP fine-tuned on two text paths, a
raw text and a caption, with the adaptive contrastive loss weighted by its language- and
description-consistency gates (docs/method.md, "ALIP"). On FDRD the caption path is the released
caption (written by a captioning model, as ALIP's synthetic captions) and the raw-text path the
class name in CLIP's template (short, always true of the image, and not a description of it, as
web alt-text); retrieval ranks by the caption path."""
from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from yacs.config import CfgNode as CN

from engine import TRAINER_REGISTRY
from engine import distributed as dist
from engine.precision import Precision

from .base import RetrievalTrainer
from .finetune import whole_model
from .losses import in_fp32, info_nce, not_negative_pairs
from .model import PromptedCLIP, prompted_clip


def extend_cfg(cfg: Any) -> None:
    c = CN()
    c.PREC = "amp"  # fp32 on CPU; the weights train in fp32 either way
    c.LOSS = "symmetric"  # or i2t
    c.RAW_TEMPLATE = "a photo of a {}."  # the raw-text path: the image's class name in this template
    c.MOMENTUM = 0.99  # of the gates' running mean similarities (as ALIP's code)
    cfg.TRAINER.ALIP = c


class ConsistencyGates(nn.Module):
    """ALIP's gates over a batch of unit features (docs/method.md, "ALIP"). Each keeps a running mean
    of its similarity (``MOMENTUM``; 1 at the start, as ALIP's code) and turns a pair's similarity s
    into exp(s - mean)^2: above its running mean, a weight above 1.

    * language consistency (raw text against caption): the sample's weight, at most 1 -- samples
      whose two texts disagree count less;
    * description consistency (each text against the image): the pair's weight on its path, for the
      samples whose texts disagree (weight below 1); where they agree, 1.

    The running means are buffers: a checkpoint holds them, so a resumed run gates as an
    uninterrupted one."""

    def __init__(self, momentum: float) -> None:
        super().__init__()
        self.momentum = momentum
        for name in ("language", "raw", "caption"):
            self.register_buffer(f"mean_{name}", torch.ones(()))

    def _gate(self, similarity: torch.Tensor, name: str) -> torch.Tensor:
        running = getattr(self, f"mean_{name}")
        running.mul_(self.momentum).add_((1 - self.momentum) * similarity.mean())
        return torch.exp(similarity - running) ** 2

    @torch.no_grad()
    def forward(self, img: torch.Tensor, raw: torch.Tensor,
                caption: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Sample weights, raw-path pair weights and caption-path pair weights [B]."""
        language = self._gate((raw * caption).sum(1), "language")
        agree = language >= 1
        raw_pair = torch.where(agree, torch.ones_like(language), self._gate((raw * img).sum(1), "raw"))
        caption_pair = torch.where(agree, torch.ones_like(language), self._gate((caption * img).sum(1), "caption"))
        return language.clamp(max=1.0), raw_pair, caption_pair


@in_fp32
def adaptive_loss(img: torch.Tensor, raw: torch.Tensor, caption: torch.Tensor, items: Sequence[Any],
                  raw_texts: Sequence[str], scale: float, mode: str, gates: ConsistencyGates) -> torch.Tensor:
    """ALIP's loss over the global batch: on each path, InfoNCE with every pair's loss scaled by its
    sample weight and its pair weight on that path; the two paths summed. Gathered as
    :func:`trainers.losses.global_contrastive_loss` (the gates see the global batch)."""
    img, raw, caption = (F.normalize(dist.gather_with_grad(x.float()), dim=-1) for x in (img, raw, caption))
    sample, raw_pair, caption_pair = gates(img.detach(), raw.detach(), caption.detach())
    paths = ((raw, raw_pair, [(it.impath, t) for it, t in zip(items, raw_texts)]),
             (caption, caption_pair, [(it.impath, it.caption) for it in items]))
    total = img.new_zeros(())
    for txt, pair, keys in paths:
        not_negative = not_negative_pairs(dist.gather_objects(keys), img.device)
        total = total + info_nce(scale * img @ txt.T, None, not_negative, mode, sample * pair)
    return total


@TRAINER_REGISTRY.register()
class ALIP(RetrievalTrainer):
    """Both towers train on the two text paths; the temperature stays CLIP's."""

    FROZEN_CLIP = False

    def check_cfg(self, cfg: Any) -> None:
        super().check_cfg(cfg)
        c = cfg.TRAINER.ALIP
        if "{}" not in c.RAW_TEMPLATE:
            raise ValueError(f"TRAINER.ALIP.RAW_TEMPLATE must hold {{}} where the class name goes, got {c.RAW_TEMPLATE!r}")
        if not 0.0 <= c.MOMENTUM < 1.0:
            raise ValueError(f"TRAINER.ALIP.MOMENTUM must be in [0, 1), got {c.MOMENTUM}")

    @classmethod
    def retrieval_model(cls, cfg: Any, clip_model: nn.Module,
                        precision: Precision) -> tuple[PromptedCLIP, dict[str, nn.Module]]:
        model = prompted_clip(cfg, clip_model, precision, train_clip=True)
        model.gates = ConsistencyGates(cfg.TRAINER.ALIP.MOMENTUM).to(clip_model.logit_scale.device)
        return whole_model(clip_model, model, gates=model.gates)

    def raw_texts(self, items: Sequence[Any]) -> list[str]:
        """Each item's raw text: its class name in ``RAW_TEMPLATE``."""
        return [self.node().RAW_TEMPLATE.format(it.classname.replace("_", " ")) for it in items]

    def contrastive_step(self, batch: dict, items: Sequence[Any]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Image features and both text paths of the batch, and ALIP's loss over them."""
        img = self.features.train_images(batch, None)
        raw_texts = self.raw_texts(items)
        raw = self.model.encode_text(raw_texts)
        txt = self.model.encode_text(self.tokens([it.caption for it in items], self.device))
        loss = adaptive_loss(img, raw, txt, items, raw_texts, self.model.logit_scale, self.node().LOSS, self.model.gates)
        return img, txt, loss
