"""The residual bottleneck adapter (CLIP-Adapter; also docs/method.md §4.2's CAA adapter):
y = ratio * A(x) + (1 - ratio) * x,  A(x) = ReLU(W2 ReLU(W1 x)),  W1: D -> hidden, W2: hidden -> D, no bias."""
from __future__ import annotations

import torch
from torch import nn


class ResidualAdapter(nn.Module):
    def __init__(self, dim: int, hidden: int, ratio: float) -> None:
        super().__init__()
        if not 0.0 <= ratio <= 1.0 or hidden < 1:
            raise ValueError(f"adapter needs 0 <= ratio <= 1 and hidden >= 1 (got {ratio}, {hidden})")
        self.fc1 = nn.Linear(dim, hidden, bias=False)
        self.fc2 = nn.Linear(hidden, dim, bias=False)
        self.ratio = ratio

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ratio * torch.relu(self.fc2(torch.relu(self.fc1(x)))) + (1 - self.ratio) * x
