"""The retrieval model: CLIP with learned prompts and optional heads, as one ``nn.Module``
(docs/model.md), with the two pieces it is made of.

* **The CLIP driver** (docs/method.md §2.2-2.3): CLIP's own transformer blocks run layer by layer
  on the ``clip`` package's models, with prompts inserted; nothing of CLIP is edited or copied.
  Text: ``[SOS] v_1..v_k [w_1 E(t_1) ... w_L E(t_L)] [EOS]`` -- learnable context after SOS,
  caption token embeddings optionally scaled by per-token weights (§2.3), positional embeddings
  added after the weighting, features pooled at EOS; in layers 1..J-1 the k prompt positions are
  overwritten by that layer's deep text prompt. Image: the visual prompts are appended after CLS
  + patches at layer 0 and overwrite those positions in layers 1..J-1. The text encoder runs only
  up to the longest caption of a batch (causal attention makes the EOS feature independent of
  later padding).
* **The dual prompt learner** (§2.2): learnable text context, deep text prompts and, with visual
  prompts, per-layer coupling functions that generate the visual prompts from the text ones.
* **PromptedCLIP**: the frozen (or, for full fine-tuning, trainable) CLIP, the prompts and the
  heads; ``encode_image``, ``encode_text`` and ``forward``. CoOp, MaPLe and DCAR differ only by
  the prompt learner's arguments, CLIP-Adapter by its heads, zero-shot CLIP by having neither.

**The contrastive loss L_con** (docs/method.md §5), the objective of every retrieval trainer and
of the small-CLIP pretraining recipe, in-batch and over the global batch under ``torchrun``
(:func:`contrastive_loss`, :func:`global_contrastive_loss`); similarities and losses are computed
in fp32 even inside an autocast region. DCAR's category loss is in ``trainers/dcar/objective.py``.

**Observing the encoders.** Code that needs to see every encoder call (the FLOP count of
``benchmarks/flops.py``) registers a callback with :func:`observe_encoders`; each top-level call of
:func:`encode_text` and :func:`encode_image`, and each frozen image pass, reports an
:class:`EncoderCall`.
"""
from __future__ import annotations

import contextlib
import functools
from collections import Counter
from itertools import accumulate
from typing import Any, Callable, Iterator, NamedTuple, Sequence, TypeVar

import torch
import torch.nn.functional as F
from torch import nn

from datasets.text import encode, tokenize
from engine import distributed as dist
from engine.precision import Precision

F_ = TypeVar("F_", bound=Callable[..., torch.Tensor])


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
    x = x.permute(1, 0, 2)
    out = (v.ln_post(x[:, 1:v.positional_embedding.shape[0]]) if patches else v.ln_post(x[:, 0, :])) @ v.proj
    report(EncoderCall("image", images, out, prompts=0 if shallow is None else len(shallow)))
    return out


class Prompts(NamedTuple):
    """The prompt tensors of one step: text context, deep text prompts, visual prompts."""

    ctx: torch.Tensor
    deep_text: list[torch.Tensor]
    shallow_visual: torch.Tensor | None
    deep_visual: list[torch.Tensor]


class DualPromptLearner(nn.Module):
    """Text context ``ctx`` (k x W), deep text prompts for layers 1..J-1 and, with visual prompts,
    either the per-layer coupling functions Linear(W -> W_v) that generate them from the text
    prompts (MaPLe, DCAR), or, with ``independent = (k_v, J_v)``, visual prompts of their own:
    ``k_v`` tokens at the image encoder's input and in its layers 1..J_v-1 (PromptSRC's
    independent vision-language prompts)."""

    def __init__(self, clip_model: nn.Module, n_ctx: int, depth: int, ctx_init: str = "", visual: bool = True,
                 independent: tuple[int, int] | None = None) -> None:
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
        self.independent = independent is not None
        if visual:
            n_v, depth_v = independent or (n_ctx, depth)
            vision_layers = len(clip_model.visual.transformer.resblocks)
            if n_v < 1 or not 1 <= depth_v <= vision_layers:
                raise ValueError(f"visual prompts need >= 1 token and a depth of 1..{vision_layers} (the image "
                                 f"encoder's layers), got {n_v} tokens, depth {depth_v}")
            v_width = vision_width(clip_model)
            if independent:
                self.visual_ctx = nn.Parameter(torch.randn(n_v, v_width) * 0.02)
                self.deep_visual = nn.ParameterList([nn.Parameter(torch.randn(n_v, v_width) * 0.02)
                                                     for _ in range(depth_v - 1)])
            else:
                self.couplings = nn.ModuleList([nn.Linear(width, v_width) for _ in range(depth)])

    def forward(self) -> Prompts:
        """All prompts; coupled visual prompts generated from the text ones by the coupling functions."""
        if not self.visual:
            return Prompts(self.ctx, list(self.deep_text), None, [])
        if self.independent:
            return Prompts(self.ctx, list(self.deep_text), self.visual_ctx, list(self.deep_visual))
        deep_visual = [f(p) for f, p in zip(self.couplings[1:], self.deep_text)]
        return Prompts(self.ctx, list(self.deep_text), self.couplings[0](self.ctx), deep_visual)


class ResidualAdapter(nn.Module):
    """The residual bottleneck adapter (CLIP-Adapter's heads; DCAR's CAA, docs/method.md §4.2):
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
        :meth:`tokenize`; ``token_weights`` [B, 77] scale the caption tokens (docs/method.md §2.3)."""
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


# The contrastive loss L_con (docs/method.md §5)
CON_MODES = ("symmetric", "i2t")


def in_fp32(fn: F_) -> F_:
    """Run ``fn`` with autocast off for its first tensor's device (its inputs are cast to fp32 by it)."""
    @functools.wraps(fn)
    def wrapper(img: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        with torch.autocast(device_type=img.device.type, enabled=False):
            return fn(img, *args, **kwargs)
    return wrapper  # type: ignore[return-value]


@in_fp32
def contrastive_loss(img: torch.Tensor, txt: torch.Tensor, scale: float | torch.Tensor,
                     not_negative: torch.Tensor | None = None, mode: str = "symmetric") -> torch.Tensor:
    """In-batch InfoNCE over B (image, caption) pairs with logit scale ``scale`` (§5; a tensor
    when the scale is learned, as in pretraining).

    ``not_negative`` [B, B] marks off-diagonal pairs that must not count as negatives (captions
    of the same image, exact duplicate captions); they are left out of the softmax.
    ``mode`` ``symmetric``: 1/2 [CE(I->T) + CE(T->I)]; ``i2t``: CE(I->T) only (a direct port of
    classification-style training).
    """
    if mode not in CON_MODES:
        raise ValueError(f"contrastive loss mode must be one of {CON_MODES}, got {mode!r}")
    img, txt = F.normalize(img.float(), dim=-1), F.normalize(txt.float(), dim=-1)
    logits = scale * img @ txt.T
    if not_negative is not None:
        eye = torch.eye(len(img), dtype=torch.bool, device=img.device)
        logits = logits.masked_fill(not_negative & ~eye, float("-inf"))
    target = torch.arange(len(img), device=img.device)
    i2t = F.cross_entropy(logits, target)
    return i2t if mode == "i2t" else (i2t + F.cross_entropy(logits.T, target)) / 2


def not_negative_pairs(keys: Sequence[tuple[str, str]], device: torch.device) -> torch.Tensor:
    """[B, B] pairs of a batch of (image path, caption) keys that must not be each other's
    negatives: same image or same caption."""
    return torch.tensor([[a[0] == b[0] or a[1] == b[1] for b in keys] for a in keys], device=device)


def global_contrastive_loss(img: torch.Tensor, txt: torch.Tensor, items: Sequence[Any], scale: float,
                            mode: str) -> tuple[torch.Tensor, int]:
    """L_con over the global batch, and that batch's size: every process's features and items
    (``impath``, ``caption``) are gathered, gradients flow to this process's own rows (so the
    caller scales the loss by the number of processes before gradients are averaged)."""
    keys = dist.gather_objects([(it.impath, it.caption) for it in items])
    loss = contrastive_loss(dist.gather_with_grad(img.float()), dist.gather_with_grad(txt.float()), scale,
                            not_negative_pairs(keys, img.device), mode)
    return loss, len(keys)
