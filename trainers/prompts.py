"""The dual prompt learner (docs/method.md, "Dual prompts"): learnable text context, deep text
prompts and, with visual prompts, per-layer coupling functions that generate the visual prompts from
the text ones (or visual prompts of their own). CoOp, MaPLe, PromptSRC and DCAR differ only by its
arguments."""
from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import nn

from datasets.text import encode

from .clip_driver import text_width, vision_width
from .configs import fit_hint


class Prompts(NamedTuple):
    """The prompt tensors of one step: text context, deep text prompts, visual prompts."""

    ctx: torch.Tensor
    deep_text: list[torch.Tensor]
    shallow_visual: torch.Tensor | None
    deep_visual: list[torch.Tensor]


class DualPromptLearner(nn.Module):
    """Text context ``ctx`` (k x W), deep text prompts for layers 1..J-1 and, with visual prompts,
    either the per-layer coupling functions Linear(W -> W_v) that generate them from the text
    prompts (MaPLe, DCAR), or, with ``independent = (k_v, J_v)``, visual prompts of their own:
    ``k_v`` tokens at the image encoder's input and in its layers 1..J_v-1 (PromptSRC's
    independent vision-language prompts)."""

    def __init__(self, clip_model: nn.Module, n_ctx: int, depth: int, ctx_init: str = "", visual: bool = True,
                 independent: tuple[int, int] | None = None) -> None:
        super().__init__()
        if n_ctx < 1 or depth < 1:
            raise ValueError(f"need N_CTX >= 1 and PROMPT_DEPTH >= 1 (got {n_ctx}, {depth})")
        layers = len(clip_model.transformer.resblocks)
        if depth > layers:
            raise ValueError(f"PROMPT_DEPTH {depth} exceeds the {layers} layers of the text encoder")
        width = text_width(clip_model)
        self.n_ctx, self.depth, self.visual = n_ctx, depth, visual
        ctx = torch.randn(n_ctx, width) * 0.02
        if ctx_init:
            ids = encode(ctx_init.replace("_", " "))[:n_ctx]
            with torch.no_grad():
                emb = clip_model.token_embedding(torch.tensor(ids, device=clip_model.token_embedding.weight.device))
            ctx[: len(ids)] = emb.float().cpu()
        self.ctx = nn.Parameter(ctx)
        self.deep_text = nn.ParameterList([nn.Parameter(torch.randn(n_ctx, width) * 0.02) for _ in range(depth - 1)])
        self.independent = independent is not None
        if visual:
            n_v, depth_v = independent or (n_ctx, depth)
            vision_layers = len(clip_model.visual.transformer.resblocks)
            if n_v < 1 or not 1 <= depth_v <= vision_layers:
                raise ValueError(f"visual prompts need >= 1 token and a depth of 1..{vision_layers} (the image "
                                 f"encoder's layers), got {n_v} tokens, depth {depth_v}")
            v_width = vision_width(clip_model)
            if independent:
                self.visual_ctx = nn.Parameter(torch.randn(n_v, v_width) * 0.02)
                self.deep_visual = nn.ParameterList([nn.Parameter(torch.randn(n_v, v_width) * 0.02)
                                                     for _ in range(depth_v - 1)])
            else:
                self.couplings = nn.ModuleList([nn.Linear(width, v_width) for _ in range(depth)])

    def forward(self) -> Prompts:
        """All prompts; coupled visual prompts generated from the text ones by the coupling functions."""
        if not self.visual:
            return Prompts(self.ctx, list(self.deep_text), None, [])
        if self.independent:
            return Prompts(self.ctx, list(self.deep_text), self.visual_ctx, list(self.deep_visual))
        deep_visual = [f(p) for f, p in zip(self.couplings[1:], self.deep_text)]
        return Prompts(self.ctx, list(self.deep_text), self.couplings[0](self.ctx), deep_visual)


def prompt_learner(cfg: Any, node: str, clip_model: nn.Module, n_ctx: int, depth: int, ctx_init: str,
                   visual: bool, independent: tuple[int, int] | None = None) -> DualPromptLearner:
    """The prompt learner on CLIP's device; prompts that do not fit the backbone name the trainer's
    config node (``TRAINER.<node>``) and the shipped config that does."""
    try:
        prompts = DualPromptLearner(clip_model, n_ctx, depth, ctx_init, visual, independent)
    except ValueError as e:
        raise ValueError(f"{e} (TRAINER.{node}, backbone {cfg.MODEL.BACKBONE.NAME}). "
                         f"{fit_hint(cfg)}") from None
    return prompts.to(clip_model.token_embedding.weight.device)
