"""Dynamic token re-weighting, DTR (docs/method.md §3).

For token j of a positive caption paired with image I:

    dS_j = S(token_j, I_blank) - S(token_j, I)        (Fig. 2: w_token = |dS|)
    w^_j = |dS_j| / (mean over the caption's words of |dS| + 1e-6)
    w_j  = clamp(1 + beta * (w^_j - 1), w_min, w_max)

SOS, EOS, punctuation, padding and the learned context get weight 1. ``S`` is a cosine with
the frozen CLIP image feature: ``word`` mode (default, §3.2 item 1) embeds each caption word on
its own as "[SOS] word [EOS]" through the frozen text encoder (cached per vocabulary word; all
BPE pieces of a word share its weight); ``contextual`` mode uses the frozen text encoder's
projected hidden state at each token. The blank image is a white image through the test
preprocessing (``white``) or the all-zero normalised tensor (``mean``). Weights come from the
frozen CLIP and are computed once per training pair; at test time all weights are 1.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn

from datasets.text import CONTEXT_LENGTH, tokenize, words

from ..clip_driver import assemble_text, encode_text

S_MODES = ("word", "contextual")
BLANKS = ("white", "mean")


def is_content(word: str) -> bool:
    return any(ch.isalnum() for ch in word)


def weights_from_delta(delta: torch.Tensor, content: torch.Tensor, beta: float, w_min: float, w_max: float) -> torch.Tensor:
    """Normalised, clamped weights of one caption's units (words or tokens); 1 where not ``content``."""
    mag = delta.abs()
    mean = mag[content].mean() if content.any() else mag.new_tensor(0.0)
    w = (1 + beta * (mag / (mean + 1e-6) - 1)).clamp(w_min, w_max)
    return torch.where(content, w, torch.ones_like(w))


def spread_to_tokens(word_weights: Sequence[float], pieces: Sequence[int], budget: int,
                     length: int = CONTEXT_LENGTH) -> torch.Tensor:
    """Per-position weights aligned with ``tokenize`` ids: SOS, then each word's weight on each of
    its BPE pieces (cut at ``budget`` tokens), 1 elsewhere."""
    out = torch.ones(length)
    pos = 1
    for w, n in zip(word_weights, pieces):
        take = min(n, budget + 1 - pos)
        if take <= 0:
            break
        out[pos:pos + take] = w
        pos += take
    return out


class TokenReweighter:
    """Computes DTR weights with a frozen CLIP (kept outside any trainable module)."""

    def __init__(self, clip_model: nn.Module, autocast: Callable, mode: str = "word", beta: float = 0.5,
                 w_min: float = 0.5, w_max: float = 2.0, batch_size: int = 256) -> None:
        if mode not in S_MODES:
            raise ValueError(f"TRAINER.DCAR.DTR.S_MODE must be one of {S_MODES}, got {mode!r}")
        self.clip, self.autocast, self.mode = clip_model, autocast, mode
        self.beta, self.w_min, self.w_max, self.batch_size = beta, w_min, w_max, batch_size
        self._word_cache: dict[str, torch.Tensor] = {}

    def _device(self) -> torch.device:
        return self.clip.token_embedding.weight.device

    @torch.no_grad()
    def word_features(self, vocab: Sequence[str]) -> dict[str, torch.Tensor]:
        """Unit text features of "[SOS] word [EOS]" for each word (cached)."""
        missing = [w for w in dict.fromkeys(vocab) if w not in self._word_cache]
        for b in range(0, len(missing), self.batch_size):
            batch = missing[b:b + self.batch_size]
            ids = tokenize(batch)[0].to(self._device())
            with self.autocast():
                f = encode_text(self.clip, *assemble_text(self.clip, ids, None)).float()
            self._word_cache.update(zip(batch, nn.functional.normalize(f, dim=-1).cpu()))
        return {w: self._word_cache[w] for w in vocab}

    @torch.no_grad()
    def weights(self, captions: Sequence[str], image_feats: torch.Tensor, blank_feat: torch.Tensor,
                reserved: int) -> torch.Tensor:
        """[N, 77] weights for captions paired with unit image features [N, D] (on CPU)."""
        budget = CONTEXT_LENGTH - 2 - reserved
        image_feats, blank_feat = image_feats.float().cpu(), blank_feat.float().cpu()
        if self.mode == "word":
            return self._word_weights(captions, image_feats, blank_feat, budget)
        return self._contextual_weights(captions, image_feats, blank_feat, reserved)

    def _word_weights(self, captions, image_feats, blank_feat, budget) -> torch.Tensor:
        per_caption = [words(c) for c in captions]
        feats = self.word_features([w for ws in per_caption for w, _ in ws])
        out = torch.ones(len(captions), CONTEXT_LENGTH)
        for i, ws in enumerate(per_caption):
            if not ws:
                continue
            u = torch.stack([feats[w] for w, _ in ws])
            delta = u @ blank_feat - u @ image_feats[i]
            content = torch.tensor([is_content(w) for w, _ in ws])
            w = weights_from_delta(delta, content, self.beta, self.w_min, self.w_max)
            out[i] = spread_to_tokens(w.tolist(), [n for _, n in ws], budget)
        return out

    def _contextual_weights(self, captions, image_feats, blank_feat, reserved) -> torch.Tensor:
        out = torch.ones(len(captions), CONTEXT_LENGTH)
        for b in range(0, len(captions), self.batch_size):
            ids, _ = tokenize(captions[b:b + self.batch_size], reserved=reserved)
            with self.autocast():
                x, eot = assemble_text(self.clip, ids.to(self._device()), None)
                h = encode_text(self.clip, x, eot, all_tokens=True).float().cpu()
            h = nn.functional.normalize(h, dim=-1)
            for r, caption in enumerate(captions[b:b + self.batch_size]):
                n = int(eot[r])  # positions 1..n-1 hold the caption's tokens
                if n <= 1:
                    continue
                tok = h[r, 1:n]
                delta = tok @ blank_feat - tok @ image_feats[b + r]
                content = torch.tensor([is_content(w) for w, k in words(caption) for _ in range(k)][: n - 1])
                out[b + r, 1:n] = weights_from_delta(delta, content, self.beta, self.w_min, self.w_max)
        return out
