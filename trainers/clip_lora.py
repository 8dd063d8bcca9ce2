"""CLIP-LoRA for caption retrieval (Zanella and Ben Ayed, CVPR Workshops 2024; docs/method.md, "Baselines"):
low-rank updates of the query, key and value projections of CLIP's attention layers, the rest
frozen, trained with L_con.

CLIP's attention (``nn.MultiheadAttention``) keeps q, k and v in one fused weight ``in_proj_weight``
[3d, d] (rows ``0:d`` query, ``d:2d`` key, ``2d:3d`` value). :class:`QKVLoRA` is a parametrization of
that weight: ``W + alpha/rank * [B_q A_q; B_k A_k; B_v A_v]`` (a slice without an adapter adds
zeros), so CLIP's own blocks run unchanged and:

* with ``B = 0`` at initialisation the weight, and so every feature, is exactly the frozen model's;
* :func:`merge_lora` writes ``W + delta`` into the weight and removes the adapters: the same
  tensor the parametrization computes, so merged features are identical.

**Dropout** (``DROPOUT``): the paper drops the LoRA branch's input per token. A per-token mask is
not a weight, and would break the exact merge; here each step draws one mask over the input
features, shared by all tokens of the step (the columns of ``A`` are dropped and the rest scaled by
``1 / (1 - p)``), so the adapter stays a weight update. The LoRA parameters are fp32 (the
precision policy's trainable parameters); the frozen weights keep the policy's frozen dtype.
"""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from torch.nn.utils import parametrize
from yacs.config import CfgNode as CN

from engine import TRAINER_REGISTRY
from engine.precision import Precision

from .base import RetrievalTrainer
from .model import PromptedCLIP, prompted_clip

SLICES = ("q", "k", "v")  # the row blocks of in_proj_weight, in this order
TOWERS = ("text", "vision")


def extend_cfg(cfg: Any) -> None:
    c = CN()
    c.RANK = 2  # the paper's defaults: rank 2, alpha 1, dropout 0.25, q/k/v of every layer of both towers
    c.ALPHA = 1.0  # the update is scaled by ALPHA / RANK
    c.DROPOUT = 0.25  # of the adapter's input features, one mask per step (module docstring)
    c.TOWERS = ("text", "vision")
    c.LAYERS = ()  # indices of the layers adapted in each tower; () = every layer
    c.SLICES = ("q", "k", "v")
    c.PREC = "amp"
    c.LOSS = "symmetric"  # or i2t
    cfg.TRAINER.CLIP_LORA = c


class QKVLoRA(nn.Module):
    """A parametrization of a fused ``in_proj_weight`` [3d, d]: low-rank updates of the slices
    ``slices`` (module docstring). ``A`` is initialised as LoRA does (Kaiming-uniform), ``B`` at zero."""

    def __init__(self, dim: int, rank: int, alpha: float, dropout: float = 0.0,
                 slices: tuple[str, ...] = SLICES) -> None:
        super().__init__()
        unknown = set(slices) - set(SLICES)
        if unknown or not slices:
            raise ValueError(f"LoRA slices must be a non-empty subset of {SLICES}, got {tuple(slices)}")
        if rank < 1 or not 0.0 <= dropout < 1.0:
            raise ValueError(f"LoRA needs rank >= 1 and 0 <= dropout < 1, got rank {rank}, dropout {dropout}")
        self.dim, self.scale, self.dropout, self.slices = dim, alpha / rank, dropout, tuple(slices)
        self.A = nn.ParameterDict({s: nn.Parameter(torch.empty(rank, dim)) for s in self.slices})
        self.B = nn.ParameterDict({s: nn.Parameter(torch.zeros(dim, rank)) for s in self.slices})
        for a in self.A.values():
            nn.init.kaiming_uniform_(a, a=math.sqrt(5))

    def delta(self) -> torch.Tensor:
        """The update of the whole fused weight [3d, d] (zeros on slices without an adapter)."""
        keep = None
        if self.training and self.dropout > 0:
            keep = (torch.rand(self.dim, device=self.A[self.slices[0]].device) >= self.dropout) / (1 - self.dropout)
        blocks = []
        for s in SLICES:
            if s in self.slices:
                a = self.A[s] if keep is None else self.A[s] * keep
                blocks.append(self.scale * (self.B[s] @ a))
            else:
                blocks.append(self.A[self.slices[0]].new_zeros(self.dim, self.dim))
        return torch.cat(blocks)

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return weight + self.delta().to(weight.dtype)


def attention_layers(clip_model: nn.Module, towers: tuple[str, ...], layers: tuple[int, ...]) -> list[nn.Module]:
    """The ``nn.MultiheadAttention`` modules of the chosen towers and layers (``()``: every layer)."""
    unknown = set(towers) - set(TOWERS)
    if unknown or not towers:
        raise ValueError(f"LoRA towers must be a non-empty subset of {TOWERS}, got {tuple(towers)}")
    found = []
    if "vision" in towers and not hasattr(clip_model.visual, "transformer"):
        raise ValueError("LoRA on the vision tower needs a ViT backbone (a ResNet CLIP has no attention layers "
                         "there): use a ViT, or set TRAINER.CLIP_LORA.TOWERS \"('text',)\"")
    for tower in towers:
        blocks = (clip_model.transformer if tower == "text" else clip_model.visual.transformer).resblocks
        missing = [i for i in layers if not 0 <= i < len(blocks)]
        if missing:
            raise ValueError(f"LoRA layers {missing} do not exist in the {tower} tower ({len(blocks)} layers, 0-based)")
        found += [blocks[i].attn for i in (layers or range(len(blocks)))]
    return found


def add_lora(clip_model: nn.Module, rank: int, alpha: float, dropout: float = 0.0, towers: tuple[str, ...] = TOWERS,
             layers: tuple[int, ...] = (), slices: tuple[str, ...] = SLICES) -> nn.ModuleList:
    """Parametrize the chosen attention layers' ``in_proj_weight`` with a :class:`QKVLoRA` each
    (fp32, on the weight's device); returns the adapters, in tower and layer order."""
    adapters = nn.ModuleList()
    for attn in attention_layers(clip_model, tuple(towers), tuple(layers)):
        weight = attn.in_proj_weight
        lora = QKVLoRA(weight.shape[1], rank, alpha, dropout, tuple(slices)).to(weight.device)
        parametrize.register_parametrization(attn, "in_proj_weight", lora)
        adapters.append(lora)
    return adapters


def merge_lora(clip_model: nn.Module) -> int:
    """Write every adapter's update into its weight and remove the adapters (evaluation at the
    frozen model's cost); returns how many were merged."""
    merged = 0
    for module in clip_model.modules():
        if isinstance(module, nn.MultiheadAttention) and parametrize.is_parametrized(module, "in_proj_weight"):
            parametrize.remove_parametrizations(module, "in_proj_weight", leave_parametrized=True)
            merged += 1
    return merged


@TRAINER_REGISTRY.register()
class CLIP_LoRA(RetrievalTrainer):  # noqa: N801 - the method's name
    """Frozen CLIP with LoRA on q/k/v of the chosen attention layers; gradients flow through
    both towers to the adapters, so no image feature is cached."""

    @classmethod
    def retrieval_model(cls, cfg: Any, clip_model: nn.Module,
                        precision: Precision) -> tuple[PromptedCLIP, dict[str, nn.Module]]:
        c = cfg.TRAINER.CLIP_LORA
        adapters = add_lora(clip_model, c.RANK, c.ALPHA, c.DROPOUT, tuple(c.TOWERS), tuple(c.LAYERS), tuple(c.SLICES))
        return prompted_clip(cfg, clip_model, precision, train_clip=True), {"lora": adapters}
