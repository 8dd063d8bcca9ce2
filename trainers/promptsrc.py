"""PromptSRC for caption retrieval (Khattak et al., ICCV 2023, "Self-regulating Prompts";
docs/method.md, "Baselines"): independent deep vision and language prompts, trained with L_con plus
self-regulation towards the frozen CLIP, the prompts evaluated and saved being a Gaussian-weighted
aggregate over the epochs.

* **Prompts**: ``N_CTX_TEXT`` text tokens in layers 0..``PROMPT_DEPTH_TEXT``-1 and ``N_CTX_VISION``
  visual tokens in layers 0..``PROMPT_DEPTH_VISION``-1, learned independently (no coupling, unlike
  MaPLe): :class:`~trainers.model.DualPromptLearner` with ``independent``.
* **Self-regulation** (:func:`self_regulation`): L1 between the prompted and the frozen model's
  normalised image features (``IMAGE_LOSS_WEIGHT``) and text features (``TEXT_LOSS_WEIGHT``), and
  the KL divergence from the frozen model's in-batch similarity distributions to the prompted
  model's (``KL_WEIGHT``), for retrieval over the batch's captions for each image and over its
  images for each caption (the mean of both directions).
* **Gaussian prompt aggregation** (:class:`GaussianAggregation`): after epoch e (1-based) the
  prompts are added with weight N(e; ``GPA_MEAN``, ``GPA_STD``), the weights normalised over the
  run's epochs; after the last epoch the prompts become the aggregate (what is evaluated and saved).
  The running sum is part of the checkpoint, so a resumed run aggregates every epoch.
* **The frozen text target** (``TEXT_TARGET``): the paper averages frozen class-name features over
  many hand-written templates to make the target textually diverse. A caption is already a
  sentence, and templates written for a class name ("a photo of a {}.") do not read around one;
  ``caption`` (default) takes the frozen feature of the caption itself -- what zero-shot CLIP
  retrieves with -- and ``templates`` averages the caption under ``CAPTION_TEMPLATES``, sentence
  prefixes that leave the caption whole.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from yacs.config import CfgNode as CN

from engine import TRAINER_REGISTRY
from engine import distributed as dist
from engine.precision import Precision

from .base import RetrievalTrainer
from .features import encode_items
from .loaders import deterministic_train_transform
from .losses import in_fp32
from .model import PromptedCLIP, prompted_clip
from .prompts import DualPromptLearner, prompt_learner

TEXT_TARGETS = ("caption", "templates")
CAPTION_TEMPLATES = ("{}", "A photo. {}", "An image. {}", "A picture. {}")


def extend_cfg(cfg: Any) -> None:
    c = CN()
    c.N_CTX_TEXT = 4  # the paper's 4 + 4 tokens, depth 9 in both encoders
    c.N_CTX_VISION = 4
    c.CTX_INIT = "a photo of a"
    c.PROMPT_DEPTH_TEXT = 9
    c.PROMPT_DEPTH_VISION = 9
    c.TEXT_LOSS_WEIGHT = 25.0  # the paper's weights
    c.IMAGE_LOSS_WEIGHT = 10.0
    c.KL_WEIGHT = 1.0
    c.GPA_MEAN = 30.0  # the paper's few-shot setting (50 epochs); the shipped configs scale it to their epochs
    c.GPA_STD = 30.0
    c.TEXT_TARGET = "caption"  # caption | templates (module docstring)
    c.PREC = "amp"
    c.LOSS = "symmetric"  # or i2t
    cfg.TRAINER.PROMPTSRC = c


def gaussian_weights(epochs: int, mean: float, std: float) -> list[float]:
    """The aggregation weight of epochs 1..``epochs``: the normal density at e, normalised to sum 1."""
    if std <= 0:
        raise ValueError(f"TRAINER.PROMPTSRC.GPA_STD must be > 0, got {std}")
    density = [math.exp(-0.5 * ((e - mean) / std) ** 2) for e in range(1, epochs + 1)]
    return [d / sum(density) for d in density]


class GaussianAggregation(nn.Module):
    """The running sum of weighted prompts, as buffers (saved in the checkpoints with the prompts)."""

    def __init__(self, prompts: nn.Module) -> None:
        super().__init__()
        for i, p in enumerate(prompts.parameters()):
            self.register_buffer(f"sum{i}", torch.zeros_like(p.detach()))

    def sums(self) -> list[torch.Tensor]:
        return [b for name, b in self.named_buffers() if name.startswith("sum")]

    @torch.no_grad()
    def add(self, prompts: nn.Module, weight: float) -> None:
        for total, p in zip(self.sums(), prompts.parameters()):
            total.add_(p.detach().to(total.dtype) * weight)

    @torch.no_grad()
    def load_into(self, prompts: nn.Module) -> None:
        for total, p in zip(self.sums(), prompts.parameters()):
            p.copy_(total)


def kl_from(frozen: torch.Tensor, prompted: torch.Tensor) -> torch.Tensor:
    """KL(softmax(frozen) || softmax(prompted)) summed over rows, divided by the number of logits."""
    return F.kl_div(F.log_softmax(prompted, dim=1), F.log_softmax(frozen, dim=1), reduction="sum",
                    log_target=True) / prompted.numel()


@in_fp32
def self_regulation(img: torch.Tensor, txt: torch.Tensor, frozen_img: torch.Tensor, frozen_txt: torch.Tensor,
                    scale: float, image_weight: float, text_weight: float, kl_weight: float) -> dict[str, torch.Tensor]:
    """The three weighted terms for a batch of B (image, caption) pairs: ``l1_image``, ``l1_text``
    (mean absolute difference of the normalised features) and ``kl`` (both retrieval directions)."""
    zi, zt = F.normalize(img.float(), dim=-1), F.normalize(txt.float(), dim=-1)
    fi, ft = F.normalize(frozen_img.float(), dim=-1), F.normalize(frozen_txt.float(), dim=-1)
    logits, frozen = scale * zi @ zt.T, scale * fi @ ft.T
    return {"l1_image": image_weight * F.l1_loss(zi, fi), "l1_text": text_weight * F.l1_loss(zt, ft),
            "kl": kl_weight * (kl_from(frozen, logits) + kl_from(frozen.T, logits.T)) / 2}


def frozen_text_targets(model: PromptedCLIP, captions: Sequence[str], target: str) -> torch.Tensor:
    """Normalised frozen text features of ``captions`` [N, D]: the caption's own, or the mean over
    :data:`CAPTION_TEMPLATES` (module docstring)."""
    templates = CAPTION_TEMPLATES if target == "templates" else ("{}",)
    feats = [F.normalize(model.frozen_text([t.format(c) for c in captions]), dim=-1) for t in templates]
    return F.normalize(torch.stack(feats).mean(0), dim=-1)


@TRAINER_REGISTRY.register()
class PromptSRC(RetrievalTrainer):
    """Independent vision-language prompts, L_con + self-regulation, Gaussian prompt aggregation."""

    def check_cfg(self, cfg: Any) -> None:
        super().check_cfg(cfg)
        c = self.node(cfg)
        if c.TEXT_TARGET not in TEXT_TARGETS:
            raise ValueError(f"TRAINER.PROMPTSRC.TEXT_TARGET must be one of {TEXT_TARGETS}, got {c.TEXT_TARGET!r}")
        for key in ("TEXT_LOSS_WEIGHT", "IMAGE_LOSS_WEIGHT", "KL_WEIGHT"):
            if c[key] < 0:
                raise ValueError(f"TRAINER.PROMPTSRC.{key} must be >= 0 (0 switches the term off), got {c[key]}")
        gaussian_weights(cfg.OPTIM.MAX_EPOCH, c.GPA_MEAN, c.GPA_STD)

    @classmethod
    def retrieval_model(cls, cfg: Any, clip_model: nn.Module,
                        precision: Precision) -> tuple[PromptedCLIP, dict[str, nn.Module]]:
        """Independent prompts; what trains (``prompt_learner``) holds them and their aggregate."""
        c = cfg.TRAINER.PROMPTSRC
        prompts = prompt_learner(cfg, cls.CONFIG_NODE, clip_model, c.N_CTX_TEXT, c.PROMPT_DEPTH_TEXT, c.CTX_INIT,
                                 visual=True, independent=(c.N_CTX_VISION, c.PROMPT_DEPTH_VISION))
        trainable = nn.ModuleDict({"prompts": prompts, "gpa": GaussianAggregation(prompts)})
        return prompted_clip(cfg, clip_model, precision, prompts), {"prompt_learner": trainable}

    def build_model(self) -> None:
        """The model, the aggregation weights and the frozen targets: every training caption's
        text target once, and the training images' frozen features once when the training
        transform has no randomness (else each step)."""
        super().build_model()
        c, items = self.node(), self.train_set.data_source
        self.gpa_weights = gaussian_weights(self.cfg.OPTIM.MAX_EPOCH, c.GPA_MEAN, c.GPA_STD)
        captions = list(dict.fromkeys(it.caption for it in items))
        self.text_row = {caption: i for i, caption in enumerate(captions)}
        self.text_targets = frozen_text_targets(self.model, captions, c.TEXT_TARGET)
        self.image_targets = None
        if self.cfg.TRAINER.FEATURE_CACHE and deterministic_train_transform(self.cfg):
            self.image_targets = encode_items(self.cfg, items, self.train_set.transform, self.model.frozen_image,
                                              "Frozen image features (PromptSRC's targets)", self.device)

    @property
    def prompts(self) -> DualPromptLearner:
        return self._models["prompt_learner"]["prompts"]

    def forward_backward(self, batch: dict) -> dict[str, float]:
        """One step: prompted features, L_con over the global batch, the self-regulation terms
        towards the frozen targets of this process's pairs, the optimisation step."""
        c = self.node()
        items = [self.train_set.data_source[i] for i in batch["index"].tolist()]
        if self.image_targets is not None:
            frozen_img = self.image_targets[batch["index"].to(self.image_targets.device)]
        else:
            frozen_img = self.model.frozen_image(batch["img"])
        frozen_txt = self.text_targets[[self.text_row[it.caption] for it in items]]
        with self.precision.autocast():
            img, txt, con = self.contrastive_step(batch, items)
            terms = self_regulation(img, txt, frozen_img, frozen_txt, self.model.logit_scale,
                                    c.IMAGE_LOSS_WEIGHT, c.TEXT_LOSS_WEIGHT, c.KL_WEIGHT)
        regulation = sum(terms.values())
        loss = con.item() + regulation.item()
        self.optimisation_step(dist.scaled_for_averaging(con) + regulation, logged=loss)  # L_con: global; the rest: own rows
        return {"loss": loss, "l_con": con.item(), **{k: v.item() for k, v in terms.items()}}

    def after_epoch(self) -> None:
        """Aggregate this epoch's prompts; after the last, the prompts become the aggregate
        (before validation and the checkpoint)."""
        gpa = self._models["prompt_learner"]["gpa"]
        gpa.add(self.prompts, self.gpa_weights[self.epoch])
        if self.epoch + 1 == self.max_epoch:
            gpa.load_into(self.prompts)
            print(f"PromptSRC: the prompts are the Gaussian aggregate of epochs 1-{self.max_epoch} (weights "
                  + ", ".join(f"{w:.3f}" for w in self.gpa_weights) + ")")
        super().after_epoch()
