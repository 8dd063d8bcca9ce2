"""Dynamic token re-weighting, DTR (docs/method.md, "Dynamic token re-weighting").

For token j of a positive caption paired with image I:

    dS_j = S(token_j, I_blank) - S(token_j, I)        (Fig. 2: w_token = |dS|)
    w^_j = (|dS_j| + tau) / (mean over the caption's words of |dS| + tau + 1e-6)
    w_j  = clamp(1 + beta * (w^_j - 1), w_min, w_max)

beta is the strength (0: every weight 1); tau, the noise floor in cosine units (0: the plain
caption-mean normalisation), keeps a caption whose |dS| are all small -- one the backbone does not
ground -- near weight 1 instead of blowing its noise up to +-50 %. SOS, EOS, punctuation, padding
and the learned context get weight 1. ``S`` is a cosine between unit features (docs/method.md, "Similarity and towers"):

* ``word`` (default): each caption word alone as "[SOS] word [EOS]" through the text tower (cached
  per word; all BPE pieces of a word share its weight), against the pooled image feature;
* ``contextual``: the text tower's projected hidden state at each token, against the pooled image feature;
* ``patch``: word features against every patch feature of the image tower (the figure's 2-D
  maps), pooled over the patches by ``max`` or ``mean``.

The towers are the frozen CLIP (``DTR.SOURCE frozen``) or the current prompted encoders
(``current``, recomputed during training); :class:`TextTower` is the text side.
At test time captions have no paired image: their weights are 1, or with ``DTR.TEST_WEIGHTS
blank`` the weights of dS_j = S(token_j, I_blank) alone (``images=None``).

:class:`DTRSchedule` owns the whole of it over a run: the blank image, the source towers, the
weights of every training pair and when they are recomputed, and the test-time weights.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch
from PIL import Image
from torch import nn

from datasets.text import CONTEXT_LENGTH, tokenize, words

from ..clip_driver import assemble_text, encode_image, encode_text
from ..features import encode_items
from ..model import PromptedCLIP
from ..prompts import Prompts

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
    """Token weights of captions from their paired images' features (docs/method.md, "Dynamic token re-weighting")."""

    def __init__(self, settings: DTRSettings) -> None:
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


ImageEncoder = Callable[[torch.Tensor], torch.Tensor]


class DTRSchedule:
    """DTR over a run (``TRAINER.DCAR.DTR``): the weights of every training pair -- once from the
    frozen CLIP (``SOURCE frozen``), or from the current prompts of ``model`` at the first step and
    then every ``REFRESH`` steps or at each epoch's first step (``current``) -- and, with
    ``TEST_WEIGHTS blank``, the weights of captions at test.

    ``cfg``: the run's config (the images are encoded as evaluation encodes them, batched and
    sharded); ``transform``: the test preprocessing (the blank image goes through it too)."""

    CHUNK = 4096  # images encoded per part (patch features are large)

    def __init__(self, cfg: Any, model: PromptedCLIP, transform: Any) -> None:
        self.cfg, self.c, self.model, self.transform = cfg, cfg.TRAINER.DCAR.DTR, model, transform
        self.reweighter = TokenReweighter(DTRSettings.from_cfg(self.c))
        self.frozen_text = TextTower(model.clip, model.precision.autocast)
        self.weights: torch.Tensor | None = None  # [N, 77] of the training pairs

    def blank_image(self) -> torch.Tensor:
        """The blank image [1, 3, H, W] of ``DTR.BLANK``: white through the test preprocessing, or
        the all-zero normalised tensor (the mean colour)."""
        side = self.model.clip.visual.input_resolution
        if self.c.BLANK == "white":
            return self.transform(Image.new("RGB", (side, side), (255, 255, 255)))[None]
        return torch.zeros(1, 3, side, side)

    def towers(self, prompts: Prompts | None) -> tuple[TextTower, ImageEncoder, torch.Tensor]:
        """What S reads -- the text tower, the image encoder and the blank image's unit features --
        from the frozen CLIP (``prompts`` None) or from the prompted encoders."""
        model, patches = self.model, self.reweighter.patches
        if prompts is None and not patches:
            text, image = self.frozen_text, model.frozen_image
        else:
            shallow, deep = (None, ()) if prompts is None else (prompts.shallow_visual, prompts.deep_visual)
            text = self.frozen_text if prompts is None else TextTower(model.clip, model.precision.autocast, prompts)

            def image(images: torch.Tensor) -> torch.Tensor:
                with torch.no_grad(), model.precision.autocast():
                    return encode_image(model.clip, images.to(model.device), shallow, deep, patches).float()
        return text, image, nn.functional.normalize(image(self.blank_image()), dim=-1)[0]

    @torch.no_grad()
    def compute(self, items: Sequence[Any], prompts: Prompts | None = None) -> torch.Tensor:
        """[N, 77] token weights of each training pair (docs/method.md, "Dynamic token re-weighting")
        from the frozen CLIP, or from the encoders with ``prompts``."""
        text, image, blank = self.towers(prompts)
        source, parts = "frozen" if prompts is None else "current", []
        for start in range(0, len(items), self.CHUNK):
            part = items[start:start + self.CHUNK]
            feats = encode_items(self.cfg, part, self.transform, image, f"DTR: {source} image features",
                                 self.model.device)
            parts.append(self.reweighter.weights([it.caption for it in part], text,
                                                 nn.functional.normalize(feats, dim=-1), blank,
                                                 reserved=self.model.n_ctx))
        weights = torch.cat(parts)
        changed = weights[:, 1:] != 1
        mean = weights[:, 1:][changed].mean().item() if changed.any() else 1.0
        print(f"DTR ({self.reweighter.s.mode} similarity, {self.c.BLANK} blank, {source} encoders): weights for "
              f"{len(items):,} pairs, mean {mean:.3f} over re-weighted tokens")
        return weights

    def start(self, items: Sequence[Any]) -> None:
        """Before training: the frozen source's weights, computed once."""
        if self.c.ENABLED and self.c.SOURCE == "frozen":
            self.weights = self.compute(items)

    @torch.no_grad()
    def for_step(self, items: Sequence[Any], idx: list[int], step: int, first_of_epoch: bool) -> torch.Tensor | None:
        """The weights of training pairs ``idx`` at optimisation step ``step`` (None: DTR is off),
        recomputed first when the current source is due."""
        if not self.c.ENABLED:
            return None
        if self.c.SOURCE == "current":
            due = step % self.c.REFRESH == 0 if self.c.REFRESH else first_of_epoch
            if self.weights is None or due:
                self.weights = self.compute(items, self.model.prompts())
        return self.weights[idx].to(self.model.device)

    def at_test(self, captions: list[str]) -> torch.Tensor:
        """Test-time weights of captions without a paired image: dS from the blank image alone,
        with the towers of ``SOURCE``."""
        prompts = self.model.prompts() if self.c.SOURCE == "current" else None
        text, _, blank = self.towers(prompts)
        return self.reweighter.weights(captions, text, None, blank, reserved=self.model.n_ctx)
