"""The CAA module: a trainable transform of candidate text embeddings in the category branch
(METHOD.md §4.2). Used only for L_cate; retrieval bypasses it.

* ``adapter`` (default): t~ = normalize(rho * A(t) + (1 - rho) * t), A(t) = ReLU(W2 ReLU(W1 t)),
  W1: D -> hidden, W2: hidden -> D, no bias.
* ``attention``: one multi-head self-attention layer over each image's candidate set
  {positive, negatives}, residual with the same mixing ratio, so candidates contrast with each other.
"""
from __future__ import annotations

import torch
from torch import nn

CAA_TYPES = ("adapter", "attention")


class CAA(nn.Module):
    def __init__(self, dim: int, kind: str = "adapter", hidden: int = 128, ratio: float = 0.2, heads: int = 4) -> None:
        super().__init__()
        if kind not in CAA_TYPES:
            raise ValueError(f"TRAINER.DCAR.CAA.TYPE must be one of {CAA_TYPES}, got {kind!r}")
        self.kind, self.ratio = kind, ratio
        if kind == "adapter":
            self.fc1 = nn.Linear(dim, hidden, bias=False)
            self.fc2 = nn.Linear(hidden, dim, bias=False)
        else:
            self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)

    def forward(self, cands: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """``cands`` [B, C, D] (unit rows) -> transformed unit rows; ``valid`` [B, C] masks padding."""
        if self.kind == "adapter":
            out = torch.relu(self.fc2(torch.relu(self.fc1(cands))))
        else:
            pad = None if valid is None else ~valid
            out = self.attn(cands, cands, cands, key_padding_mask=pad, need_weights=False)[0]
        return nn.functional.normalize(self.ratio * out + (1 - self.ratio) * cands, dim=-1)
