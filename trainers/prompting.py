"""The dual prompt learner (docs/method.md §2.2): learnable text context, deep text prompts and,
with visual prompts, per-layer coupling functions that generate the visual prompts from the text
ones. The encoders that consume them are in ``clip_driver.py``.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from datasets.text import encode

from .clip_driver import text_width, vision_width


class Prompts(NamedTuple):
    """The prompt tensors of one step: text context, deep text prompts, visual prompts."""

    ctx: torch.Tensor
    deep_text: list[torch.Tensor]
    shallow_visual: torch.Tensor | None
    deep_visual: list[torch.Tensor]


class DualPromptLearner(nn.Module):
    """Text context ``ctx`` (k x W), deep text prompts for layers 1..J-1 and, with visual prompts,
    the per-layer coupling functions Linear(W -> W_v) that generate the visual prompts."""

    def __init__(self, clip_model: nn.Module, n_ctx: int, depth: int, ctx_init: str = "", visual: bool = True) -> None:
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
        if visual:
            vision_layers = len(clip_model.visual.transformer.resblocks)
            if depth > vision_layers:
                raise ValueError(f"PROMPT_DEPTH {depth} exceeds the {vision_layers} layers of the image encoder")
            self.couplings = nn.ModuleList([nn.Linear(width, vision_width(clip_model)) for _ in range(depth)])

    def forward(self) -> Prompts:
        """All prompts; the visual ones generated from the text ones by the coupling functions."""
        if not self.visual:
            return Prompts(self.ctx, list(self.deep_text), None, [])
        deep_visual = [f(p) for f, p in zip(self.couplings[1:], self.deep_text)]
        return Prompts(self.ctx, list(self.deep_text), self.couplings[0](self.ctx), deep_visual)
