"""Dynamic token re-weighting, DTR (docs/method.md §3).

For token j of a positive caption paired with image I:

    dS_j = S(token_j, I_blank) - S(token_j, I)        (Fig. 2: w_token = |dS|)
    w^_j = (|dS_j| + tau) / (mean over the caption's words of |dS| + tau + 1e-6)
    w_j  = clamp(1 + beta * (w^_j - 1), w_min, w_max)

beta is the strength (0: every weight 1); tau, the noise floor in cosine units (0: the plain
caption-mean normalisation), keeps a caption whose |dS| are all small -- one the backbone does not
ground -- near weight 1 instead of blowing its noise up to +-50 %. SOS, EOS, punctuation, padding
and the learned context get weight 1. ``S`` is a cosine between unit features (§3.1):

* ``word`` (default): each caption word alone as "[SOS] word [EOS]" through the text tower (cached
  per word; all BPE pieces of a word share its weight), against the pooled image feature;
* ``contextual``: the text tower's projected hidden state at each token, against the pooled image feature;
* ``patch``: word features against every patch feature of the image tower (the figure's 2-D
  maps), pooled over the patches by ``max`` or ``mean``.

The towers are the frozen CLIP (``DTR.SOURCE frozen``) or the current prompted encoders
(``current``, recomputed by the trainer during training); :class:`TextTower` is the text side.
At test time captions have no paired image: their weights are 1, or with ``DTR.TEST_WEIGHTS
blank`` the weights of dS_j = S(token_j, I_blank) alone (``images=None``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch
from torch import nn

from datasets.text import CONTEXT_LENGTH, tokenize, words

from ..clip_driver import assemble_text, encode_text
from ..prompting import Prompts

S_MODES = ("word", "contextual", "patch")
BLANKS = ("white", "mean")
SOURCES = ("frozen", "current")
PATCH_POOLS = ("max", "mean")
TEST_WEIGHTS = ("none", "blank")


@dataclass(frozen=True)
class DTRSettings:
    """How token weights are formed from dS (the ``TRAINER.DCAR.DTR`` keys)."""

    mode: str = "word"
    beta: float = 0.5
    w_min: float = 0.5
    w_max: float = 2.0
    floor: float = 0.0
    pool: str = "max"

    @classmethod
    def from_cfg(cls, c: Any) -> "DTRSettings":
        return cls(c.S_MODE, c.BETA, c.W_MIN, c.W_MAX, c.NOISE_FLOOR, c.PATCH_POOL)


def is_content(word: str) -> bool:
    return any(ch.isalnum() for ch in word)


def weights_from_delta(delta: torch.Tensor, content: torch.Tensor, beta: float, w_min: float, w_max: float,
                       floor: float = 0.0) -> torch.Tensor:
    """Normalised, clamped weights of one caption's units (words or tokens); 1 where not ``content``."""
    mag = delta.abs()
    mean = mag[content].mean() if content.any() else mag.new_tensor(0.0)
    w = (1 + beta * ((mag + floor) / (mean + floor + 1e-6) - 1)).clamp(w_min, w_max)
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


def similarity(u: torch.Tensor, image: torch.Tensor, pool: str) -> torch.Tensor:
    """S of each unit text feature ``u`` [W, D] with one image: a pooled feature [D], or patch
    features [P, D] pooled over the patches (``max`` or ``mean``)."""
    if image.dim() == 1:
        return u @ image
    s = u @ image.T
    return s.amax(dim=-1) if pool == "max" else s.mean(dim=-1)


class TextTower:
    """The text encoder S reads (no gradient): the frozen CLIP (``prompts`` None) or CLIP with the
    current prompts. Word features are cached, so build a new tower when the prompts change."""

    def __init__(self, clip_model: nn.Module, autocast: Callable, prompts: Prompts | None = None,
                 batch_size: int = 256) -> None:
        self.clip, self.autocast, self.prompts, self.batch_size = clip_model, autocast, prompts, batch_size
        self._word_cache: dict[str, torch.Tensor] = {}

    @property
    def k(self) -> int:
        """Context tokens the tower inserts after SOS."""
        return 0 if self.prompts is None else self.prompts.ctx.shape[0]

    @torch.no_grad()
    def encode(self, ids: torch.Tensor, all_tokens: bool = False) -> torch.Tensor:
        ids = ids.to(self.clip.token_embedding.weight.device)
        ctx, deep = (None, ()) if self.prompts is None else (self.prompts.ctx, self.prompts.deep_text)
        with self.autocast():
            return encode_text(self.clip, *assemble_text(self.clip, ids, ctx), deep, all_tokens=all_tokens).float()

    def word_features(self, vocab: Sequence[str]) -> dict[str, torch.Tensor]:
        """Unit text features of "[SOS] word [EOS]" for each word (cached)."""
        missing = [w for w in dict.fromkeys(vocab) if w not in self._word_cache]
        for b in range(0, len(missing), self.batch_size):
            batch = missing[b:b + self.batch_size]
            f = self.encode(tokenize(batch, reserved=self.k)[0])
            self._word_cache.update(zip(batch, nn.functional.normalize(f, dim=-1).cpu()))
        return {w: self._word_cache[w] for w in vocab}

    def token_features(self, captions: Sequence[str], reserved: int) -> list[torch.Tensor]:
        """Per caption, the unit hidden-state features [n, D] of its tokens, in the order of the
        ``tokenize(..., reserved)`` ids from position 1 (``n``: tokens that fit)."""
        out = []
        for b in range(0, len(captions), self.batch_size):
            ids, _ = tokenize(captions[b:b + self.batch_size], reserved=reserved)
            h = nn.functional.normalize(self.encode(ids, all_tokens=True).cpu(), dim=-1)
            for r, n in enumerate(ids.argmax(dim=-1).tolist()):  # ids positions 1..n-1 hold the caption
                out.append(h[r, 1 + self.k:n + self.k])
        return out


class TokenReweighter:
    """Token weights of captions from their paired images' features (§3)."""

    def __init__(self, settings: DTRSettings) -> None:
        for key, value, allowed in (("S_MODE", settings.mode, S_MODES), ("PATCH_POOL", settings.pool, PATCH_POOLS)):
            if value not in allowed:
                raise ValueError(f"TRAINER.DCAR.DTR.{key} must be one of {allowed}, got {value!r}")
        self.s = settings

    @property
    def patches(self) -> bool:
        """Whether S needs patch features ([N, P, D]) rather than pooled ones ([N, D])."""
        return self.s.mode == "patch"

    def _weights(self, delta: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
        s = self.s
        return weights_from_delta(delta, content, s.beta, s.w_min, s.w_max, s.floor)

    @torch.no_grad()
    def weights(self, captions: Sequence[str], text: TextTower, images: torch.Tensor | None,
                blank: torch.Tensor, reserved: int) -> torch.Tensor:
        """[N, 77] weights aligned with ``tokenize(captions, reserved=reserved)``, for captions
        paired with unit image features ``images`` ([N, D], or [N, P, D] in ``patch`` mode; None:
        dS from the blank image alone) and the blank image's unit features ``blank``."""
        images = None if images is None else images.float().cpu()
        blank = blank.float().cpu()
        out = torch.ones(len(captions), CONTEXT_LENGTH)
        if self.s.mode == "contextual":
            for i, (caption, tok) in enumerate(zip(captions, text.token_features(captions, reserved))):
                if len(tok):
                    content = torch.tensor([is_content(w) for w, k in words(caption) for _ in range(k)][: len(tok)])
                    out[i, 1:1 + len(tok)] = self._weights(self._delta(tok, images, i, blank), content)
            return out
        budget = CONTEXT_LENGTH - 2 - reserved
        per_caption = [words(c) for c in captions]
        feats = text.word_features([w for ws in per_caption for w, _ in ws])
        for i, ws in enumerate(per_caption):
            if ws:
                u = torch.stack([feats[w] for w, _ in ws])
                content = torch.tensor([is_content(w) for w, _ in ws])
                w = self._weights(self._delta(u, images, i, blank), content)
                out[i] = spread_to_tokens(w.tolist(), [n for _, n in ws], budget)
        return out

    def _delta(self, u: torch.Tensor, images: torch.Tensor | None, i: int, blank: torch.Tensor) -> torch.Tensor:
        s_blank = similarity(u, blank, self.s.pool)
        return s_blank if images is None else s_blank - similarity(u, images[i], self.s.pool)
