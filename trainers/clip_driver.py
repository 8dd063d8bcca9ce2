"""The CLIP driver (docs/method.md, "Dual prompts" and "Text input"): CLIP's own transformer blocks
run layer by layer on the ``clip`` package's models, with prompts inserted; nothing of CLIP is edited
or copied.

Text: ``[SOS] v_1..v_k [w_1 E(t_1) ... w_L E(t_L)] [EOS]`` -- learnable context after SOS, caption
token embeddings optionally scaled by per-token weights, positional embeddings added after the
weighting, features pooled at EOS; in layers 1..J-1 the k prompt positions are overwritten by that
layer's deep text prompt. The text encoder runs only up to the longest caption of a batch (causal
attention makes the EOS feature independent of later padding), optionally in length groups.
Image: the visual prompts are appended after CLS + patches at layer 0 and overwrite those positions
in layers 1..J-1.

**Observing the encoders.** Code that needs to see every encoder call (the FLOP count of
``benchmarks/micro/flops.py``) registers a callback with :func:`observe_encoders`; each top-level call of
:func:`encode_text` and :func:`encode_image`, and each frozen image pass, reports an
:class:`EncoderCall`.
"""
from __future__ import annotations

import contextlib
from collections import Counter
from itertools import accumulate
from typing import Callable, Iterator, NamedTuple, Sequence

import torch
from torch import nn


def text_width(clip_model: nn.Module) -> int:
    return clip_model.ln_final.weight.shape[0]


def vision_width(clip_model: nn.Module) -> int:
    visual = clip_model.visual
    if not hasattr(visual, "conv1") or not hasattr(visual, "class_embedding"):
        raise ValueError("visual prompts need a ViT backbone (ViT-B/32, ViT-B/16, ...); ResNet CLIPs have no tokens")
    return visual.conv1.out_channels


def assemble_text(clip_model: nn.Module, ids: torch.Tensor, ctx: torch.Tensor | None,
                  weights: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Token embeddings with the context inserted after SOS, and each row's EOS position.

    ``ids`` come from :func:`datasets.text.tokenize` with ``reserved = k``; ``weights`` ([B, 77],
    1 at SOS/EOS/padding) scale the caption token embeddings.
    """
    emb = clip_model.token_embedding(ids)
    if weights is not None:
        emb = emb * weights[..., None].to(emb.dtype)
    eot = ids.argmax(dim=-1)
    if ctx is None:
        return emb, eot
    k = ctx.shape[0]
    x = torch.cat([emb[:, :1], ctx[None].to(emb.dtype).expand(len(ids), -1, -1), emb[:, 1: ids.shape[1] - k]], dim=1)
    return x, eot + k


def length_groups(lengths: Sequence[int], overhead: int) -> list[list[int]]:
    """Rows grouped by length so that each group runs trimmed to its own longest row: the
    grouping with the least ``sum(rows x longest) + overhead x groups`` token-rows (a dynamic
    programme over the sorted distinct lengths; ``overhead`` prices one more, smaller pass)."""
    counts = Counter(lengths)
    distinct = sorted(counts)
    below = list(accumulate((counts[n] for n in distinct), initial=0))  # below[j]: rows of the j shortest lengths
    best, cut = [0] * (len(distinct) + 1), [0] * (len(distinct) + 1)
    for j in range(1, len(distinct) + 1):  # best grouping of the j shortest lengths; cut[j]: its last group's start
        best[j], cut[j] = min((best[i] + (below[j] - below[i]) * distinct[j - 1] + overhead, i) for i in range(j))
    group_of, j = {}, len(distinct)
    while j:
        group_of.update((n, distinct[j - 1]) for n in distinct[cut[j]:j])
        j = cut[j]
    groups: dict[int, list[int]] = {}
    for row, n in enumerate(lengths):
        groups.setdefault(group_of[n], []).append(row)
    return [groups[b] for b in sorted(groups)]


class EncoderCall(NamedTuple):
    """One encoder call as observers see it."""

    kind: str  # "text" | "image"
    inputs: torch.Tensor  # assembled text embeddings [B, L, W] | images [B, 3, H, W]
    output: torch.Tensor
    eot: torch.Tensor | None = None  # text: end-of-text positions
    trim: bool = True  # text: run only up to the longest row
    group_overhead: int | None = None  # text: length groups (see encode_text)
    prompts: int = 0  # image: visual prompt tokens appended


_observers: list[Callable[[EncoderCall], None]] = []


@contextlib.contextmanager
def observe_encoders(observer: Callable[[EncoderCall], None]) -> Iterator[None]:
    """Call ``observer`` with every :class:`EncoderCall` made inside the ``with`` block."""
    _observers.append(observer)
    try:
        yield
    finally:
        _observers.remove(observer)


def report(call: EncoderCall) -> None:
    """Tell the observers about an encoder call (encoders outside this module call it too)."""
    for observer in list(_observers):
        observer(call)


def encode_text(clip_model: nn.Module, x: torch.Tensor, eot: torch.Tensor, deep: Sequence[torch.Tensor] = (),
                trim: bool = True, all_tokens: bool = False, group_overhead: int | None = None) -> torch.Tensor:
    """Run the text transformer over assembled embeddings ``x`` [B, L, W]; deep prompts replace
    positions 1..k in layers 1..len(deep). Returns the EOS features [B, D], or with
    ``all_tokens`` the projected feature of every position [B, L, D].

    ``trim``: run only up to the longest row's EOS; with ``group_overhead`` the rows are further
    split into length groups (:func:`length_groups`), each run up to its own longest row."""
    out = _encode_text(clip_model, x, eot, deep, trim, all_tokens, group_overhead)
    report(EncoderCall("text", x, out, eot, trim, group_overhead))
    return out


def _encode_text(clip_model: nn.Module, x: torch.Tensor, eot: torch.Tensor, deep: Sequence[torch.Tensor],
                 trim: bool, all_tokens: bool, group_overhead: int | None) -> torch.Tensor:
    if trim and group_overhead is not None and not all_tokens and len(x) > 1:
        groups = length_groups((eot + 1).tolist(), group_overhead)
        if len(groups) > 1:
            rows = [torch.tensor(g, device=x.device) for g in groups]
            parts = [_encode_text(clip_model, x[r], eot[r], deep, True, False, None) for r in rows]
            return torch.cat(parts)[torch.argsort(torch.cat(rows))]
    if trim:
        x = x[:, : int(eot.max()) + 1]
    x = x + clip_model.positional_embedding[: x.shape[1]].to(x.dtype)
    x = x.permute(1, 0, 2)
    for i, block in enumerate(clip_model.transformer.resblocks):
        if 1 <= i <= len(deep):
            p = deep[i - 1].to(x.dtype)
            x = torch.cat([x[:1], p[:, None].expand(-1, x.shape[1], -1), x[1 + len(p):]])
        x = block(x)
    x = clip_model.ln_final(x.permute(1, 0, 2))
    if all_tokens:
        return x @ clip_model.text_projection
    return x[torch.arange(len(x), device=x.device), eot] @ clip_model.text_projection


def encode_image(clip_model: nn.Module, images: torch.Tensor, shallow: torch.Tensor | None = None,
                 deep: Sequence[torch.Tensor] = (), patches: bool = False) -> torch.Tensor:
    """CLIP's ViT with prompts appended after CLS + patches (layer 0) and replaced in layers 1..len(deep).
    Returns the pooled (CLS) features [B, D], or with ``patches`` the projected feature of every
    patch [B, P, D] (through ``ln_post`` and the projection, as the CLS token)."""
    x = _vit_tokens(clip_model, images, shallow, deep)
    v = clip_model.visual
    out = (v.ln_post(x[:, 1:v.positional_embedding.shape[0]]) if patches else v.ln_post(x[:, 0, :])) @ v.proj
    report(EncoderCall("image", images, out, prompts=0 if shallow is None else len(shallow)))
    return out


def encode_image_and_patches(clip_model: nn.Module, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One pass of CLIP's ViT (no prompts): the pooled (CLS) features [B, D] and the projected
    feature of every patch [B, P, D], as :func:`encode_image` gives each."""
    x = _vit_tokens(clip_model, images, None, ())
    v = clip_model.visual
    tokens = v.ln_post(x[:, :v.positional_embedding.shape[0]]) @ v.proj
    report(EncoderCall("image", images, tokens[:, 0]))
    return tokens[:, 0], tokens[:, 1:]


def _vit_tokens(clip_model: nn.Module, images: torch.Tensor, shallow: torch.Tensor | None,
                deep: Sequence[torch.Tensor]) -> torch.Tensor:
    """The ViT's output tokens [B, 1 + P (+ prompts), W] before ``ln_post``."""
    v = clip_model.visual
    dtype = v.conv1.weight.dtype
    x = v.conv1(images.to(dtype))
    x = x.reshape(x.shape[0], x.shape[1], -1).permute(0, 2, 1)
    cls = v.class_embedding.to(x.dtype) + torch.zeros(x.shape[0], 1, x.shape[-1], dtype=x.dtype, device=x.device)
    x = torch.cat([cls, x], dim=1) + v.positional_embedding.to(x.dtype)
    if shallow is not None:
        x = torch.cat([x, shallow[None].to(x.dtype).expand(len(x), -1, -1)], dim=1)
    x = v.ln_pre(x).permute(1, 0, 2)
    for i, block in enumerate(v.transformer.resblocks):
        if 1 <= i <= len(deep):
            p = deep[i - 1].to(x.dtype)
            x = torch.cat([x[: -len(p)], p[:, None].expand(-1, x.shape[1], -1)])
        x = block(x)
    return x.permute(1, 0, 2)
