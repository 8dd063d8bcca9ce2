"""The CAA module: a trainable transform of candidate text embeddings in the category branch
(docs/method.md §4.2). Used only for L_cate; retrieval bypasses it.

* ``adapter`` (default): t~ = normalize(rho * A(t) + (1 - rho) * t), the residual bottleneck
  adapter of :mod:`trainers.adapters` (D -> hidden -> D, no bias, rho = 0.2).
* ``attention``: one multi-head self-attention layer over each image's candidate set
  {positive, negatives}, mixed residually with the same ratio, so candidates contrast with each other.
"""
from __future__ import annotations

import torch
from torch import nn

from ..adapters import ResidualAdapter

CAA_TYPES = ("adapter", "attention")


class CAA(nn.Module):
    def __init__(self, dim: int, kind: str = "adapter", hidden: int = 128, ratio: float = 0.2, heads: int = 4) -> None:
        super().__init__()
        if kind not in CAA_TYPES:
            raise ValueError(f"TRAINER.DCAR.CAA.TYPE must be one of {CAA_TYPES} or none, got {kind!r}")
        self.kind, self.ratio = kind, ratio
        if kind == "adapter":
            self.adapter = ResidualAdapter(dim, hidden, ratio)
        else:
            self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)

    def forward(self, cands: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """``cands`` [B, C, D] (unit rows) -> transformed unit rows; ``valid`` [B, C] masks padding."""
        if self.kind == "adapter":
            out = self.adapter(cands)
        else:
            pad = None if valid is None else ~valid
            mixed = self.attn(cands, cands, cands, key_padding_mask=pad, need_weights=False)[0]
            out = self.ratio * mixed + (1 - self.ratio) * cands
        return nn.functional.normalize(out, dim=-1)
