"""Recipe of the small pretrained CLIP (``synth-small``): the OpenAI CLIP architecture at a small
size, trained contrastively from scratch on a pretraining corpus drawn from the FDRDSynth
generator with other caption styles than FDRDSynth's, so the downstream captions are a
distribution shift, as real downstream domains are for CLIP.

Pretraining captions are short and partial: generic ("a red emblem"), some attributes only
("a small flower on a black background"), the class name with few or no attributes ("a Migal
emblem", "Migal, blue"), or no class name at all. Images are fresh renders of the same
subcategories (never the FDRDSynth files). Deterministic for a seed and a thread count.
"""
from __future__ import annotations

import argparse
import io
import random
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from datasets.fdrd.synth import BACKGROUNDS, COLOURS, NOUNS, PATTERNS, POSITIONS, SIZES, SynthSpec, class_names, render
from datasets.text import tokenize

from ..prompting import assemble_text, encode_text
from . import CHECKPOINT

ARCH = dict(embed_dim=128, image_resolution=32, vision_layers=4, vision_width=128, vision_patch_size=4,
            context_length=77, vocab_size=49408, transformer_width=64, transformer_heads=1, transformer_layers=4)
MEAN = torch.tensor([0.48145466, 0.4578275, 0.40821073])[:, None, None]
STD = torch.tensor([0.26862954, 0.26130258, 0.27577711])[:, None, None]
WHERE = {"left": "on the left", "right": "on the right", "top": "at the top", "bottom": "at the bottom", "center": "in the middle"}


def pretraining_caption(name: str, kind: str, attrs: dict[str, str], rng: random.Random) -> str:
    """One short caption in a pretraining style (never FDRDSynth's long template)."""
    noun = NOUNS[kind]
    parts = {
        "colour": attrs["colour"], "size": attrs["size"], "background": f"on a {attrs['background']} background",
        "position": WHERE[attrs["position"]], "pattern": attrs["pattern"],
    }
    style = rng.random()
    if style < 0.2:
        return f"a {name} {noun}" if rng.random() < 0.5 else f"{name}"
    if style < 0.5:
        keys = rng.sample(list(parts), rng.randint(1, 3))
        adj = " ".join(parts[k] for k in keys if k in ("size", "colour", "pattern"))
        rest = " ".join(parts[k] for k in keys if k in ("background", "position"))
        return " ".join(x for x in (f"a {adj}".strip(), name, noun, rest) if x and x != "a")
    keys = rng.sample(list(parts), rng.randint(1, 4))
    adj = " ".join(parts[k] for k in keys if k in ("size", "colour", "pattern"))
    rest = " ".join(parts[k] for k in keys if k in ("background", "position"))
    return " ".join(x for x in (f"a {adj}".strip(), noun, rest) if x and x != "a")


def build_corpus(n: int, seed: int, size: int = 32) -> tuple[torch.Tensor, list[str]]:
    """``n`` fresh renders of FDRDSynth's subcategories with pretraining-style captions."""
    spec = SynthSpec()
    classes = [(kind, c) for kind, cs in class_names(spec).items() for c in cs]
    rng = random.Random(f"pretrain|{seed}")
    images = np.empty((n, size, size, 3), dtype=np.uint8)
    captions = []
    for i in range(n):
        kind, (name, count, mark) = rng.choice(classes)
        attrs = {"colour": rng.choice(list(COLOURS)), "background": rng.choice(list(BACKGROUNDS)),
                 "size": rng.choice(list(SIZES)), "position": rng.choice(list(POSITIONS)), "pattern": rng.choice(PATTERNS)}
        img = render(kind, count, mark, attrs, 48, rng).resize((size, size), Image.BICUBIC)
        images[i] = np.asarray(img)
        captions.append(pretraining_caption(name, kind, attrs, rng))
    tensor = torch.from_numpy(images).permute(0, 3, 1, 2).float().div(255)
    return (tensor - MEAN) / STD, captions


def pretrain(steps: int, batch: int, corpus: int, seed: int, lr: float, out: str, threads: int) -> None:
    from clip.model import CLIP

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    t0 = time.time()
    images, captions = build_corpus(corpus, seed)
    ids, _ = tokenize(captions)
    print(f"corpus: {corpus} images, {len(set(captions))} distinct captions ({time.time() - t0:.0f} s)")
    model = CLIP(**ARCH)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.1)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    g = torch.Generator().manual_seed(seed)
    for step in range(steps):
        idx = torch.randint(0, corpus, (batch,), generator=g)
        img = F.normalize(model.encode_image(images[idx]), dim=-1)
        txt = F.normalize(encode_text(model, *assemble_text(model, ids[idx], None)), dim=-1)
        logits = model.logit_scale.exp().clamp(max=100) * img @ txt.T
        same = ids[idx][:, None, :].eq(ids[idx][None, :, :]).all(-1) & ~torch.eye(batch, dtype=torch.bool)
        logits = logits.masked_fill(same, float("-inf"))  # identical captions are not negatives
        target = torch.arange(batch)
        loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 50 == 0 or step == steps - 1:
            print(f"step {step + 1}/{steps} loss {loss.item():.3f} scale {model.logit_scale.exp().item():.1f} "
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
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--corpus", type=int, default=30000)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default=CHECKPOINT)
    a = p.parse_args()
    pretrain(a.steps, a.batch, a.corpus, a.seed, a.lr, a.out, a.threads)


if __name__ == "__main__":
    main()
