"""Recipe of the small pretrained CLIP (``synth-small``): the OpenAI CLIP architecture at a small
size (64-px input, 8-px patches), trained contrastively from scratch on a corpus of fresh renders
of FDRDSynth's world (:mod:`datasets.fdrd.synth_world`; never the FDRDSynth files) with
pretraining-style captions.

Pretraining captions speak differently from FDRDSynth's, as web text differs from a downstream
domain: short and partial (each attribute is mentioned with probability ``Style.mention``), mostly
in synonyms (FDRDSynth's own phrase is used, in a share ``Style.share`` of the mentions, for the
values in ``Style.known``; ``Style.swapped`` pairs are said in each other's FDRDSynth phrase, and
the rest never are: see docs/synthetic_testbed.md), the subcategory's cues described in words
("with a cyan ring") and its name given rarely (``Style.name``). So the image features come to
carry every factor, while the downstream wording is known only partly: the alignment is what
prompt learning must add.

Deterministic for a seed and a thread count.
"""
from __future__ import annotations

import argparse
import io
import random
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

from datasets.fdrd.synth_world import (
    FACTOR,
    FACTORS,
    INKS,
    KINDS,
    MARKS,
    PRETRAINING_FILLER,
    WORLD,
    Subcategory,
    draw_attributes,
    render,
    siblings,
)
from datasets.text import tokenize

from ...clip_driver import assemble_text, encode_text
from ...losses import contrastive_loss
from . import CHECKPOINT

ARCH = dict(embed_dim=128, image_resolution=64, vision_layers=4, vision_width=128, vision_patch_size=8,
            context_length=77, vocab_size=49408, transformer_width=128, transformer_heads=2, transformer_layers=4)
POSITIVE_CONTROL = "background"  # never said in FDRDSynth's words in pretraining
MEAN = torch.tensor([0.48145466, 0.4578275, 0.40821073])[:, None, None]
STD = torch.tensor([0.26862954, 0.26130258, 0.27577711])[:, None, None]
@dataclass(frozen=True)
class Style:
    """How pretraining captions speak (probabilities per caption)."""

    mention: float = 0.8  # that a given attribute is mentioned
    cues: float = 0.5  # that the subcategory's cues are described
    name: float = 0.3  # that the subcategory is named
    filler: float = 0.1  # that a few unrelated words are added
    # How pretraining uses FDRDSynth's own phrases (in a share ``share`` of an attribute's
    # mentions; the rest are synonyms). ``known``: for their own value. ``swapped``: pairs whose
    # phrases pretraining uses for each other's value -- "false friends", words the text encoder
    # knows well but grounded differently, as a domain's jargon can be. Every other value (all of
    # the background's: the positive control) is never said in FDRDSynth's words.
    known: tuple[tuple[str, tuple[str, ...]], ...] = (
        ("colour", ("red", "green", "blue", "yellow")), ("size", ("small", "large")),
        ("position", ("left", "right", "center")), ("pattern", ("smooth", "striped")))
    swapped: tuple[tuple[str, str, str], ...] = (
        ("colour", "orange", "brown"), ("colour", "purple", "pink"), ("size", "medium", "huge"),
        ("position", "top", "bottom"), ("pattern", "dotted", "checkered"))
    share: float = 0.3

    def said_as(self, factor: str) -> dict[str, str]:
        """value -> the value whose FDRDSynth phrase pretraining uses for it (absent: never)."""
        out = {v: v for f, values in self.known if f == factor for v in values}
        for f, a, b in self.swapped:
            if f == factor:
                out.update({a: b, b: a})
        return out


def _phrase(factor, value: str, rng: random.Random, style: Style) -> str:
    said_as = style.said_as(factor.name)
    if value in said_as and rng.random() < style.share:
        return factor.downstream[said_as[value]]
    return rng.choice(factor.pretraining[value])


def pretraining_caption(sub: Subcategory, attrs: dict[str, str], rng: random.Random, style: Style = Style()) -> str:
    """One short caption in a pretraining style (never FDRDSynth's long template)."""
    kind = next(k for k in KINDS if k.name == sub.kind)
    said = {f.name: _phrase(f, attrs[f.name], rng, style) for f in FACTORS if rng.random() < style.mention}
    pre = [said[n] for n in ("size", "colour") if n in said]
    post = []
    pattern = said.get("pattern")
    if pattern:
        (post if pattern.startswith("with ") else pre).append(pattern)
    if rng.random() < style.cues:
        post.append(sub.cue_phrase())
    post += [said[n] for n in ("position", "background") if n in said]
    noun = rng.choice(kind.pretraining_nouns)
    if rng.random() < style.name:
        noun = f"{sub.name} {noun}" if rng.random() < 0.5 else f"{noun} called {sub.name}"
    if rng.random() < 0.25:  # a tag list
        text = ", ".join([noun, *pre, *post])
    else:
        text = " ".join(["a", *pre, noun, *post])
    if rng.random() < style.filler:
        text += f", {rng.choice(PRETRAINING_FILLER)}"
    return text


FAMILY = 8  # images per family: one base and variants that differ from it in one or two factors
VARIED = ("subcategory", "position", "pattern", "size", "colour", "background")
VARIED_WEIGHTS = (3, 3, 3, 2, 1, 1)  # the subtle factors vary most often


def _variant(sub: Subcategory, attrs: dict[str, str], rng: random.Random) -> tuple[Subcategory, dict[str, str]]:
    """``sub``/``attrs`` with one or two factors changed (a sibling for the subcategory)."""
    attrs = dict(attrs)
    for factor in dict.fromkeys(rng.choices(VARIED, VARIED_WEIGHTS, k=rng.choice((1, 2)))):  # ordered: no hash seed
        if factor == "subcategory":
            sub = rng.choice(siblings(WORLD[sub.kind])[sub.name])
        else:
            values = [v for v in FACTOR[factor].values if v != attrs[factor]]
            attrs[factor] = rng.choice(values)
    return sub, attrs


KIND_NAMES = tuple(k.name for k in KINDS)
INK_NAMES = tuple(INKS)
# What the image-side auxiliary heads predict: the meta-category, the subcategory's two cues, each attribute.
LABELLED = {"kind": len(KIND_NAMES), "ink": len(INK_NAMES), "mark": len(MARKS), **{f.name: len(f.values) for f in FACTORS}}


def labels_of(sub: Subcategory, attrs: dict[str, str]) -> list[int]:
    """Indices of the meta-category, the ink and mark cues and each attribute value."""
    return ([KIND_NAMES.index(sub.kind), INK_NAMES.index(sub.ink), MARKS.index(sub.mark)]
            + [f.values.index(attrs[f.name]) for f in FACTORS])


def build_corpus(n: int, seed: int, size: int = 64,
                 style: Style = Style()) -> tuple[torch.Tensor, list[str], torch.Tensor]:
    """``n`` fresh renders of the world's subcategories (uint8, [n, 3, size, size]) with
    pretraining-style captions and their factor labels ([n, len(LABELLED)]), in families of
    ``FAMILY`` consecutive images that share most factors: batches of whole families hold hard
    negatives, so the subtle factors (position, pattern, the subcategory's cues) are needed to
    tell captions apart, not only colour."""
    rng = random.Random(f"pretrain|{seed}")
    images = np.empty((n, size, size, 3), dtype=np.uint8)
    captions, labels = [], []
    for i in range(n):
        if i % FAMILY == 0:
            base = (rng.choice([c for subs in WORLD.values() for c in subs]), draw_attributes(rng))
            sub, attrs = base
        else:
            sub, attrs = _variant(*base, rng)
        images[i] = np.asarray(render(sub, attrs, size, rng))
        captions.append(pretraining_caption(sub, attrs, rng, style))
        labels.append(labels_of(sub, attrs))
    return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(), captions, torch.tensor(labels)


class FactorHeads(torch.nn.Module):
    """Linear classifiers of every factor on the image embedding: an auxiliary pretraining task
    (like supervised pretraining of an image tower), so that the image features carry every
    factor within the CPU budget. Not part of the saved CLIP."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.heads = torch.nn.ModuleList(torch.nn.Linear(dim, n) for n in LABELLED.values())

    def forward(self, feats: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The sum of the heads' cross-entropies."""
        feats = F.normalize(feats, dim=-1) * 10
        return sum(F.cross_entropy(h(feats), labels[:, i]) for i, h in enumerate(self.heads))


def normalise(images: torch.Tensor) -> torch.Tensor:
    """uint8 images -> CLIP-normalised floats."""
    return (images.float().div(255) - MEAN) / STD


def _optimiser(params: list, lr: float, steps: int) -> tuple[torch.optim.Optimizer, object]:
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.1)
    return opt, torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(steps, 1), pct_start=0.1)


def pretrain(steps: int, batch: int, corpus: int, seed: int, lr: float, out: str, threads: int,
             style: Style = Style(), aux: float = 1.0, warm: int = 0) -> None:
    """``warm`` steps of the image tower alone on the factor heads (as an image backbone is
    pretrained before contrastive training), then ``steps`` steps of both towers on the
    contrastive loss plus ``aux`` times the factor heads' loss."""
    from clip.model import CLIP

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    t0 = time.time()
    images, captions, labels = build_corpus(corpus, seed, ARCH["image_resolution"], style)
    ids, _ = tokenize(captions)
    print(f"corpus: {corpus} images, {len(set(captions))} distinct captions ({time.time() - t0:.0f} s)")
    model = CLIP(**ARCH)
    heads = FactorHeads(ARCH["embed_dim"])
    g = torch.Generator().manual_seed(seed)
    families = corpus // FAMILY
    opt, sched = _optimiser([*model.visual.parameters(), *heads.parameters()], lr, warm)
    for step in range(warm):
        idx = torch.randint(0, corpus, (batch,), generator=g)
        loss = heads(model.encode_image(normalise(images[idx])), labels[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 50 == 0 or step == warm - 1:
            print(f"image warm-up {step + 1}/{warm} factors {loss.item():.3f} ({time.time() - t0:.0f} s)", flush=True)
    opt, sched = _optimiser([*model.parameters(), *heads.parameters()], lr, steps)
    for step in range(steps):
        picked = torch.randint(0, families, (batch // FAMILY,), generator=g)
        idx = (picked[:, None] * FAMILY + torch.arange(FAMILY)).flatten()  # whole families: hard negatives
        img = model.encode_image(normalise(images[idx]))
        txt = encode_text(model, *assemble_text(model, ids[idx], None))
        same = ids[idx][:, None, :].eq(ids[idx][None, :, :]).all(-1)  # identical captions are not negatives
        con = contrastive_loss(img, txt, model.logit_scale.exp().clamp(max=100), same, "symmetric")
        sup = heads(img, labels[idx]) if aux else torch.zeros(())
        loss = con + aux * sup
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 50 == 0 or step == steps - 1:
            print(f"step {step + 1}/{steps} contrastive {con.item():.3f} factors {sup.item():.3f} "
                  f"({time.time() - t0:.0f} s)", flush=True)
    state = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    buf = io.BytesIO()
    torch.save(state, buf)
    with open(out, "wb") as f:
        f.write(buf.getvalue())
    print(f"saved {out} ({len(buf.getvalue()) / 2**20:.1f} MiB) after {time.time() - t0:.0f} s")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=450)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--corpus", type=int, default=32000)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="CPU threads (the committed checkpoint: 1)")
    p.add_argument("--out", default=CHECKPOINT)
    p.add_argument("--aux", type=float, default=1.0, help="weight of the image-side factor classification task")
    p.add_argument("--warm", type=int, default=900, help="image-tower-only steps before the contrastive stage")
    rates = {k: v for k, v in asdict(Style()).items() if k not in ("known", "swapped")}
    for name, value in rates.items():
        p.add_argument(f"--{name}", type=float, default=value, help=f"caption style: {name} rate")
    a = p.parse_args()
    style = Style(**{k: getattr(a, k) for k in rates})
    pretrain(a.steps, a.batch, a.corpus, a.seed, a.lr, a.out, a.threads, style, a.aux, a.warm)


if __name__ == "__main__":
    main()
