"""The retrieval model (docs/model.md, "PromptedCLIP"): CLIP with learned prompts and optional
heads, as one ``nn.Module``. The frozen (or, for full fine-tuning, trainable) CLIP, the prompts of
``trainers/prompts.py`` and the heads; ``encode_image``, ``encode_text`` and ``forward``, run by the
CLIP driver of ``trainers/clip_driver.py``. CoOp, MaPLe and DCAR differ only by the prompt learner's
arguments, CLIP-Adapter by its heads, zero-shot CLIP by having neither.
"""
from __future__ import annotations

import contextlib
from typing import Any, Callable, Sequence

import torch
from torch import nn

from datasets.text import tokenize
from engine.precision import Precision

from .clip_driver import EncoderCall, assemble_text, encode_image, encode_text, report
from .prompts import DualPromptLearner, Prompts


class ResidualAdapter(nn.Module):
    """The residual bottleneck adapter (CLIP-Adapter's heads; DCAR's CAA, docs/method.md, "CAA module"):
    y = ratio * A(x) + (1 - ratio) * x,  A(x) = ReLU(W2 ReLU(W1 x)),  W1: D -> hidden, W2: hidden -> D, no bias."""

    def __init__(self, dim: int, hidden: int, ratio: float) -> None:
        super().__init__()
        if not 0.0 <= ratio <= 1.0 or hidden < 1:
            raise ValueError(f"adapter needs 0 <= ratio <= 1 and hidden >= 1 (got {ratio}, {hidden})")
        self.fc1 = nn.Linear(dim, hidden, bias=False)
        self.fc2 = nn.Linear(hidden, dim, bias=False)
        self.ratio = ratio

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ratio * torch.relu(self.fc2(torch.relu(self.fc1(x)))) + (1 - self.ratio) * x


class TokenTable:
    """Token ids of a fixed set of strings (a run's training captions and negatives), tokenized once."""

    def __init__(self, strings: Sequence[str], reserved: int) -> None:
        unique = list(dict.fromkeys(strings))
        self.ids, self.truncated = tokenize(unique, reserved=reserved)
        self.row_of = {s: i for i, s in enumerate(unique)}

    def __len__(self) -> int:
        return len(self.row_of)

    def __call__(self, strings: Sequence[str], device: torch.device) -> torch.Tensor:
        return self.ids[[self.row_of[s] for s in strings]].to(device)


class PromptedCLIP(nn.Module):
    """CLIP for retrieval, with learned prompts and heads (docs/model.md).

    * ``prompts``: a :class:`DualPromptLearner` (CoOp: depth 1, text only; MaPLe and DCAR: deep,
      with visual prompts), or None;
    * ``image_head`` / ``text_head``: trainable modules applied to the encoders' fp32 features
      (CLIP-Adapter's adapters; DCAR's CAA with ``CAA.AT_TEST``), or None;
    * ``train_clip``: gradients flow through CLIP's towers (its weights train: full fine-tuning;
      or adapters inside them do: CLIP-LoRA), and no image feature is cached; otherwise CLIP is
      frozen and its unprompted passes run without gradient;
    * ``precision``: the device/precision policy the encoders run under (autocast on GPU);
    * ``text_trim``: run the text encoder in length groups up to each group's longest caption
      (``TRAINER.TEXT_TRIM``), else over all 77 tokens.

    ``test_token_weights`` (captions -> [N, 77] weights), when set, weights the caption tokens
    that :meth:`encode_text` encodes without explicit weights (DCAR's ``DTR.TEST_WEIGHTS blank``).
    """

    def __init__(self, clip_model: nn.Module, prompts: DualPromptLearner | None = None, *,
                 image_head: nn.Module | None = None, text_head: nn.Module | None = None, train_clip: bool = False,
                 precision: Precision | None = None, text_trim: bool = True) -> None:
        super().__init__()
        self.clip, self.prompts, self.image_head, self.text_head = clip_model, prompts, image_head, text_head
        self.train_clip, self.text_trim = train_clip, text_trim
        self.precision = precision or Precision(torch.device("cpu"), "fp32")
        self.test_token_weights: Callable[[list[str]], torch.Tensor] | None = None
        self.truncated_captions = 0  # captions cut to the context by tokenize(), for the evaluation log

    @property
    def device(self) -> torch.device:
        return self.clip.token_embedding.weight.device

    @property
    def n_ctx(self) -> int:
        """Context tokens inserted after SOS (the tokens a caption gives up)."""
        return 0 if self.prompts is None else self.prompts.ctx.shape[0]

    @property
    def logit_scale(self) -> float:
        """CLIP's (frozen) temperature."""
        return float(self.clip.logit_scale.exp())

    @property
    def image_tower_frozen(self) -> bool:
        """Whether nothing before the image head trains (its features can then be cached)."""
        return not self.train_clip and (self.prompts is None or not self.prompts.visual)

    def make_prompts(self) -> Prompts | None:
        """This step's prompts (compute once, pass to both encoders), under the precision's autocast."""
        if self.prompts is None:
            return None
        with self.precision.autocast():
            return self.prompts()

    def tokenize(self, captions: Sequence[str]) -> torch.Tensor:
        """Token ids on the model's device, leaving room for the context; truncations are counted."""
        ids, truncated = tokenize(list(captions), reserved=self.n_ctx)
        self.truncated_captions += truncated
        return ids.to(self.device)

    # ---------------------------------------------------------------- images
    def frozen_image(self, images: torch.Tensor) -> torch.Tensor:
        """fp32 features of the frozen, unprompted CLIP image encoder."""
        with torch.no_grad(), self.precision.autocast():
            out = self.clip.encode_image(images.to(self.device).to(self.precision.frozen_dtype))
        report(EncoderCall("image", images, out))
        return out.float()

    def image_tower(self, images: torch.Tensor, prompts: Prompts | None = None) -> torch.Tensor:
        """fp32 image features before the image head: the prompted (or fine-tuned) image encoder,
        or the frozen one."""
        if self.image_tower_frozen:
            return self.frozen_image(images)
        if prompts is None and self.prompts is not None:
            prompts = self.make_prompts()
        shallow, deep = (None, ()) if prompts is None else (prompts.shallow_visual, prompts.deep_visual)
        with self.precision.autocast():
            return encode_image(self.clip, images.to(self.device), shallow, deep).float()

    def fp32(self) -> contextlib.AbstractContextManager:
        """Autocast off: the heads run on fp32 features in fp32."""
        return torch.autocast(device_type=self.device.type, enabled=False)

    def head_image(self, tower: torch.Tensor) -> torch.Tensor:
        """The image head over image-tower features (identity without one), in fp32."""
        if self.image_head is None:
            return tower
        with self.fp32():
            return self.image_head(tower)

    def encode_image(self, images: torch.Tensor, prompts: Prompts | None = None) -> torch.Tensor:
        """Image features [B, D] (fp32, not normalised) of images [B, 3, H, W] (preprocessed)."""
        return self.head_image(self.image_tower(images, prompts))

    # ---------------------------------------------------------------- text
    def text_features(self, ids: torch.Tensor, token_weights: torch.Tensor | None = None,
                      prompts: Prompts | None = None) -> torch.Tensor:
        """fp32 features of the prompted text encoder (no head) for token ids from
        :meth:`tokenize`; ``token_weights`` [B, 77] scale the caption tokens (docs/method.md, "Text input")."""
        if self.prompts is not None and prompts is None:
            prompts = self.make_prompts()
        ctx, deep = (None, ()) if prompts is None else (prompts.ctx, prompts.deep_text)
        grad = torch.is_grad_enabled() and (prompts is not None or self.train_clip)
        return self._text_pass(ids, ctx, deep, token_weights, grad)

    def frozen_text(self, captions: Sequence[str]) -> torch.Tensor:
        """fp32 features of the frozen, unprompted CLIP text encoder (no head), the whole context
        for the caption (no tokens given up to prompts)."""
        ids, _ = tokenize(list(captions), reserved=0)
        return self._text_pass(ids.to(self.device), None, (), None, grad=False)

    def _text_pass(self, ids: torch.Tensor, ctx: torch.Tensor | None, deep: Sequence[torch.Tensor],
                   token_weights: torch.Tensor | None, grad: bool) -> torch.Tensor:
        """One text-encoder pass under the run's trimming policy and the precision's autocast."""
        overhead = self.precision.text_group_overhead if self.text_trim else None
        with torch.set_grad_enabled(grad), self.precision.autocast():
            x, eot = assemble_text(self.clip, ids, ctx, token_weights)
            return encode_text(self.clip, x, eot, deep, trim=self.text_trim, group_overhead=overhead).float()

    def encode_text(self, captions: Sequence[str] | torch.Tensor, token_weights: torch.Tensor | None = None,
                    prompts: Prompts | None = None) -> torch.Tensor:
        """Caption features [B, D] (fp32, not normalised), through the text head: the features
        retrieval ranks by. ``captions``: strings, or token ids from :meth:`tokenize`."""
        ids = captions if isinstance(captions, torch.Tensor) else self.tokenize(captions)
        if token_weights is None and self.test_token_weights is not None and not isinstance(captions, torch.Tensor):
            token_weights = self.test_token_weights(list(captions)).to(self.device)
        feats = self.text_features(ids, token_weights, prompts)
        if self.text_head is None:
            return feats
        with self.fp32():
            return self.text_head(feats)

    def forward(self, images: torch.Tensor, captions: Sequence[str] | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Image and caption features of one batch, both encoders under the same prompts."""
        prompts = self.make_prompts()
        return self.encode_image(images, prompts), self.encode_text(captions, prompts=prompts)


def prompted_clip(cfg: Any, clip_model: nn.Module, precision: Precision, prompts: DualPromptLearner | None = None,
                  **kwargs: Any) -> PromptedCLIP:
    """A :class:`PromptedCLIP` with the run's text-trimming policy (``TRAINER.TEXT_TRIM``)."""
    return PromptedCLIP(clip_model, prompts, precision=precision, text_trim=cfg.TRAINER.TEXT_TRIM, **kwargs)
