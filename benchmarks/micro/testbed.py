"""What the synthetic testbed can measure before any method runs: what the frozen backbone knows.

For a backbone and an FDRDSynth folder (whose entries carry their ground-truth ``factors``):

* **probes**: a linear classifier per factor (the subcategory, within its domain, and each
  attribute), fit on the train split's frozen features and scored on the test split -- on the
  pooled image embedding and on the caption embedding -- each beside its chance level;
* **variant cosine**: the cosine between a test caption and its variants that differ only in one
  factor's words (high = the text encoder hardly tells them apart);
* **zero-shot discrimination**: per factor, how often the image scores its own caption above
  every variant with another value of that factor (chance = 1 / number of values);
* **oracle retrievers**: the R@1 of a retriever that matches exactly a given set of factors
  (ties broken at random), which shows where a gallery's difficulty lies.

    python benchmarks/micro/testbed.py --backbone synth-small --folder data/fdrd_synth/seed0-<hash>
"""
from __future__ import annotations

import argparse
import os
import re
import sys
from collections import Counter
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from datasets.fdrd.synth import entries  # noqa: E402
from datasets.fdrd.synth_world import FACTOR, FACTORS, WORLD  # noqa: E402
from datasets.text import tokenize  # noqa: E402

FACTOR_NAMES = ("subcategory",) + tuple(f.name for f in FACTORS)
ORACLE_SETS = (("colour", "background", "size"), ("colour", "background", "size", "position"),
               tuple(f.name for f in FACTORS), ("subcategory",), FACTOR_NAMES)


@dataclass
class Item:
    key: str
    domain: str
    image: str
    caption: str
    factors: dict[str, str]


def read_split(folder: str, split: str) -> list[Item]:
    """Every entry of a generated FDRDSynth folder's ``split`` files, with its ground truth."""
    return [Item(key, kind, path, e["positive"], e["factors"]) for kind, key, path, e in entries(folder, split)]


class Frozen:
    """A frozen CLIP's image and caption embeddings (fp32, not normalised)."""

    def __init__(self, model: torch.nn.Module) -> None:
        from trainers.backbones.small_clip.recipe import normalise

        self.model, self.normalise = model.float().eval(), normalise

    @torch.no_grad()
    def images(self, paths: list[str], batch: int = 256) -> torch.Tensor:
        out = []
        for b in range(0, len(paths), batch):
            arr = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in paths[b:b + batch]])
            out.append(self.model.encode_image(self.normalise(torch.from_numpy(arr).permute(0, 3, 1, 2))))
        return torch.cat(out)

    @torch.no_grad()
    def texts(self, captions: list[str], batch: int = 512) -> torch.Tensor:
        from trainers.clip_driver import assemble_text, encode_text

        out = []
        for b in range(0, len(captions), batch):
            ids, _ = tokenize(captions[b:b + batch])
            out.append(encode_text(self.model, *assemble_text(self.model, ids, None)))
        return torch.cat(out)


def linear_probe(train_x: torch.Tensor, train_y: list[str], test_x: torch.Tensor, test_y: list[str],
                 weight_decay: float = 1e-3) -> float:
    """Test accuracy of a multinomial logistic regression on standardised features (full-batch L-BFGS)."""
    classes = sorted(set(train_y) | set(test_y))
    index = {c: i for i, c in enumerate(classes)}
    mean, std = train_x.mean(0), train_x.std(0) + 1e-6
    xtr, xte = (train_x - mean) / std, (test_x - mean) / std
    ytr = torch.tensor([index[y] for y in train_y])
    yte = torch.tensor([index[y] for y in test_y])
    w = torch.zeros(xtr.shape[1], len(classes), requires_grad=True)
    b = torch.zeros(len(classes), requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1, max_iter=300, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(xtr @ w + b, ytr) + weight_decay * w.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        return float(((xte @ w + b).argmax(1) == yte).float().mean())


def _phrase(factor: str, value: str) -> str:
    return value if factor == "subcategory" else FACTOR[factor].downstream[value]


def values_of(factor: str, item: Item) -> list[str]:
    """The values a factor can take for ``item`` (subcategories: those of its domain)."""
    if factor == "subcategory":
        return [s.name for s in WORLD[item.domain]]
    return list(FACTOR[factor].values)


def variant(item: Item, factor: str, value: str) -> str:
    """``item``'s caption with ``factor`` said as ``value`` instead (nothing else changed; whole
    words only, so "red" is not found inside "checkered")."""
    old, new = _phrase(factor, item.factors[factor]), _phrase(factor, value)
    pattern = re.compile(rf"\b{re.escape(old)}\b", re.IGNORECASE)
    if len(pattern.findall(item.caption)) != 1:
        raise ValueError(f"{item.key}: {old!r} does not occur exactly once in its caption")
    return pattern.sub(lambda m: new.capitalize() if m.group(0)[0].isupper() else new, item.caption)


def text_gates(frozen: Frozen, items: list[Item], img: torch.Tensor) -> dict[str, dict[str, float]]:
    """Per factor: mean cosine between a caption and its one-factor variants, and zero-shot
    discrimination (the image picks its own caption among all the factor's values)."""
    img = F.normalize(img, dim=-1)
    out = {}
    for factor in FACTOR_NAMES:
        cos, hits, chance = [], [], []
        for i, it in enumerate(items):
            vals = [v for v in values_of(factor, it) if v != it.factors[factor]]
            caps = [it.caption] + [variant(it, factor, v) for v in vals]
            t = F.normalize(frozen.texts(caps), dim=-1)
            cos.extend((t[1:] @ t[0]).tolist())
            hits.append(int((t @ img[i]).argmax()) == 0)
            chance.append(1 / len(caps))
        out[factor] = {"variant_cosine": float(np.mean(cos)), "zero_shot": float(np.mean(hits)),
                       "zero_shot_chance": float(np.mean(chance))}
    return out


def oracle_r1(items: list[Item], factors: tuple[str, ...]) -> float:
    """Expected R@1 (both directions are equal) of a retriever that ranks the gallery items
    matching the query on ``factors`` first, in random order, over each domain's gallery."""
    total = 0.0
    for domain in sorted({it.domain for it in items}):
        keys = Counter(tuple(it.factors[f] for f in factors) for it in items if it.domain == domain)
        total += sum(1.0 for n in keys.values()) / sum(keys.values())  # sum over items of 1/n_match
    return 100.0 * total / len({it.domain for it in items})


def probe_table(frozen: Frozen, train: list[Item], test: list[Item], text_sample: int = 300,
                seed: int = 0) -> dict[str, dict[str, float]]:
    """Everything in this module's docstring, per factor, plus the oracle R@1 table."""
    img_tr, img_te = frozen.images([it.image for it in train]), frozen.images([it.image for it in test])
    txt_tr, txt_te = frozen.texts([it.caption for it in train]), frozen.texts([it.caption for it in test])
    rng = np.random.default_rng(seed)
    pick = sorted(rng.choice(len(test), size=min(text_sample, len(test)), replace=False).tolist())
    gates = text_gates(frozen, [test[i] for i in pick], img_te[pick])
    table = {}
    for factor in FACTOR_NAMES:
        table[factor] = {"image_probe": probe(img_tr, img_te, train, test, factor),
                         "text_probe": probe(txt_tr, txt_te, train, test, factor),
                         "chance": float(np.mean([1 / len(values_of(factor, it)) for it in test])), **gates[factor]}
    return table


def probe(train_x: torch.Tensor, test_x: torch.Tensor, train: list[Item], test: list[Item], factor: str) -> float:
    """Linear-probe accuracy for ``factor``; the subcategory is probed within each domain (its
    gallery), the attributes over all domains."""
    groups = sorted({it.domain for it in test}) if factor == "subcategory" else [None]
    hits = 0.0
    for g in groups:
        tr = [i for i, it in enumerate(train) if g in (None, it.domain)]
        te = [i for i, it in enumerate(test) if g in (None, it.domain)]
        acc = linear_probe(train_x[tr], [train[i].factors[factor] for i in tr], test_x[te],
                           [test[i].factors[factor] for i in te])
        hits += acc * len(te)
    return hits / len(test)


def oracle_table(test: list[Item]) -> dict[str, float]:
    return {" + ".join(s): oracle_r1(test, s) for s in ORACLE_SETS}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backbone", default="synth-small")
    p.add_argument("--folder", required=True, help="a generated FDRDSynth folder ($DATA/fdrd_synth/seedN-...)")
    p.add_argument("--text-sample", type=int, default=300)
    a = p.parse_args()
    from trainers.backbones import load_clip

    frozen = Frozen(load_clip(a.backbone))
    table = probe_table(frozen, read_split(a.folder, "train"), read_split(a.folder, "test"), a.text_sample)
    print(f"{'factor':12s} {'img probe':>9s} {'txt probe':>9s} {'chance':>7s} {'var cos':>8s} {'zero-shot':>9s} {'chance':>7s}")
    for f, r in table.items():
        print(f"{f:12s} {r['image_probe']:9.3f} {r['text_probe']:9.3f} {r['chance']:7.3f} {r['variant_cosine']:8.3f} "
              f"{r['zero_shot']:9.3f} {r['zero_shot_chance']:7.3f}")
    for name, r1 in oracle_table(read_split(a.folder, "test")).items():
        print(f"oracle R@1 matching {name}: {r1:.1f}")


if __name__ == "__main__":
    main()
