"""Exact, chunked retrieval ranks (the core of the ``Retrieval`` evaluator).

For each query, the target is its best-scoring correct gallery item; its rank is the number of
gallery items ahead of it. An item is *ahead* when its score is higher, or equal with a lower
gallery index (the tie rule). Scores are fp32 dot products of L2-normalised features, computed
in tiles of at most ``chunk x chunk`` so memory never grows with N^2. Items whose fp32 score is
within ``NEAR`` of the target are compared again in fp64 on features normalised in fp64, so
ranks do not depend on the tile size, the matmul kernel or the device, and exact ties (e.g.
between quantised features) are broken by the index as documented.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch

NEAR = 1e-4  # far above fp32 rounding error of a 512-d dot product of unit vectors


def normalize(features: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Copy with unit rows in ``dtype`` (normalised in that precision), whatever the input precision."""
    features = features.to(dtype)
    return features / features.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def _target(queries: torch.Tensor, gallery: torch.Tensor, ptr: torch.Tensor,
            idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """fp64 score and index of each query's best correct item (ties: lowest index).

    ``queries``/``gallery`` are the fp64 unit features; ``ptr``/``idx`` describe these queries'
    correct items (``ptr[0]`` may be non-zero).
    """
    counts = ptr[1:] - ptr[:-1]
    if (counts == 0).any():
        raise ValueError("every query needs at least one correct gallery item")
    idx = idx[ptr[0]:ptr[-1]]
    q_of = torch.repeat_interleave(torch.arange(len(counts), device=idx.device), counts)
    scores = (queries[q_of] * gallery[idx]).sum(-1)
    # sort by (query, -score, index): the first entry of each query is its target
    order = torch.argsort(idx, stable=True)
    order = order[torch.argsort(-scores[order], stable=True)]
    order = order[torch.argsort(q_of[order], stable=True)]
    first = order[ptr[:-1] - ptr[0]]
    return scores[first], idx[first]


def ranks(queries: torch.Tensor, gallery: torch.Tensor, ptr: torch.Tensor, idx: torch.Tensor,
          chunk: int = 1024, progress: Callable | None = None) -> torch.Tensor:
    """0-based rank of each query's best correct item.

    ``queries`` [Q, D] and ``gallery`` [G, D] are features (any precision, any norm); the correct
    items of query q are ``idx[ptr[q]:ptr[q+1]]`` (CSR layout).
    """
    q64, g64 = normalize(queries, torch.float64), normalize(gallery, torch.float64)
    q32, g32 = q64.float(), g64.float()
    out = torch.zeros(len(queries), dtype=torch.long, device=queries.device)
    steps = range(0, len(queries), chunk)
    for q0 in progress(steps) if progress else steps:
        q, q_exact = q32[q0:q0 + chunk], q64[q0:q0 + chunk]
        t_s, t_i = _target(q_exact, g64, ptr[q0:q0 + len(q) + 1], idx)
        t_s32 = t_s.float()[:, None]
        for g0 in range(0, len(gallery), chunk):
            g = g32[g0:g0 + chunk]
            s = q @ g.T
            count = (s > t_s32 + NEAR).sum(1)
            near = (s - t_s32).abs() <= NEAR
            if near.any():
                qi, gi = near.nonzero(as_tuple=True)
                exact = (q_exact[qi] * g64[g0 + gi]).sum(-1)
                g_abs = gi + g0
                ahead = ((exact > t_s[qi]) | ((exact == t_s[qi]) & (g_abs < t_i[qi]))) & (g_abs != t_i[qi])
                count += torch.zeros_like(count).index_add_(0, qi, ahead.long())
            out[q0:q0 + chunk] += count
    return out


def ranks_from_scores(scores: torch.Tensor, ptr: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """0-based rank of each query's best correct item from a score matrix [Q, G] (a similarity
    that is no dot product of two features, e.g. token-wise late interaction), by the same rule as
    :func:`ranks`: the target is the best-scoring correct item (ties: lowest index), and an item is
    ahead of it when it scores higher, or equal with a lower gallery index."""
    counts = (ptr[1:] - ptr[:-1]).tolist()
    if 0 in counts:
        raise ValueError("every query needs at least one correct gallery item")
    out = torch.zeros(len(scores), dtype=torch.long)
    columns = torch.arange(scores.shape[1], device=scores.device)
    for q, row in enumerate(scores):
        correct = idx[ptr[q]:ptr[q + 1]]
        best = correct[row[correct] == row[correct].max()].min()
        ahead = (row > row[best]) | ((row == row[best]) & (columns < best))
        out[q] = int(ahead.sum())
    return out.to(scores.device)


def recall_metrics(rank: torch.Tensor, ks: tuple[int, ...], prefix: str) -> dict[str, float]:
    """R@K (percent), median and mean rank (1-based) of a direction."""
    r = rank.double()
    metrics = {f"{prefix}_R@{k}": 100.0 * (r < k).double().mean().item() for k in ks}
    metrics[f"{prefix}_mean"] = sum(metrics.values()) / len(ks)
    metrics[f"{prefix}_medr"] = float(np.median((r + 1).cpu().numpy()))
    metrics[f"{prefix}_meanr"] = float((r + 1).mean().item())
    return metrics
