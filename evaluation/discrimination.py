"""Fine-grained measures beside recall: negative discrimination and controlled-twin accuracy.

* **Negative discrimination** (``negdisc_<kind>``, percent): of the test images that have
  negatives of a kind, the share whose positive caption scores above every one of them. Kinds:
  ``category`` (the class name swapped; released negatives where the files have them),
  ``attribute`` (one attribute word swapped) and ``attribute_<word kind>`` (colour, size, ...),
  and ``all``. This is what the category loss of DCAR trains, measured directly -- far more
  sensitive than R@1.
* **Twin accuracy** (``twin_i2t_<factor>``, ``twin_t2i_<factor>``, percent): for pairs of test
  images that differ in exactly one factor (synthetic data records them), how often an image
  scores its own caption above its twin's caption, and a caption its own image above the twin
  image. Ties count as errors.

Features are unit-normalised; scores are fp32 dot products.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Sequence

import torch

from .items import RetrievalItem
from .ranking import normalize


def negatives_by_kind(item: RetrievalItem) -> dict[str, list[str]]:
    """An item's negative captions grouped by kind (attribute swaps also under their word kind)."""
    out: dict[str, list[str]] = {}
    category = list(item.negatives_category)
    if category:
        out["category"] = category
    attributes = list(item.negatives_attribute)
    kinds = list(item.negatives_attribute_kinds) or [""] * len(attributes)
    for caption, kind in zip(attributes, kinds):
        out.setdefault("attribute", []).append(caption)
        if kind:
            out.setdefault(f"attribute_{kind}", []).append(caption)
    if out:
        out["all"] = category + attributes
    return out


def negative_discrimination(image_feats: torch.Tensor, items: Sequence[RetrievalItem],
                            caption_feats: dict[str, torch.Tensor]) -> dict[str, float]:
    """``negdisc_<kind>`` over the items that have negatives of that kind."""
    img = normalize(image_feats)
    wins: dict[str, list[bool]] = defaultdict(list)
    for i, item in enumerate(items):
        groups = negatives_by_kind(item)
        if not groups:
            continue
        pos = float(normalize(caption_feats[item.captions[0]][None].to(img.device))[0] @ img[i])
        for kind, captions in groups.items():
            negs = normalize(torch.stack([caption_feats[c] for c in captions]).to(img.device)) @ img[i]
            wins[kind].append(bool((pos > negs).all()))
    order = sorted(wins, key=lambda k: (k != "all", k != "category", k))
    return {f"negdisc_{k}": 100.0 * sum(wins[k]) / len(wins[k]) for k in order}


def twin_accuracy(image_feats: torch.Tensor, caption_feats: torch.Tensor,
                  items: Sequence[RetrievalItem]) -> dict[str, float]:
    """``twin_i2t_<factor>`` and ``twin_t2i_<factor>`` over every (item, twin) pair of the gallery;
    ``caption_feats[i]`` is item i's caption feature."""
    index = {it.key: i for i, it in enumerate(items)}
    img, txt = normalize(image_feats), normalize(caption_feats)
    hits: dict[str, list[bool]] = defaultdict(list)
    for i, item in enumerate(items):
        for key, factor in item.twins:
            j = index.get(key)
            if j is None:  # the twin is not in this gallery (e.g. skipped for a bad image)
                continue
            hits[f"twin_i2t_{factor}"].append(bool(img[i] @ txt[i] > img[i] @ txt[j]))
            hits[f"twin_t2i_{factor}"].append(bool(txt[i] @ img[i] > txt[i] @ img[j]))
    return {k: 100.0 * sum(v) / len(v) for k, v in sorted(hits.items())}
