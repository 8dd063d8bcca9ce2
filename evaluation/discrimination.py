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

Features are unit-normalised; scores are fp32 dot products, or, for patch and word tokens, the
token-wise late interaction of docs/method.md, "FILIP".
"""
from __future__ import annotations

from collections import defaultdict
from typing import Sequence

import torch

from .items import RetrievalItem
from .late_interaction import pair_scores
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
    """``negdisc_<kind>`` over the items that have negatives of that kind: the image scores its
    caption above every negative of the kind (features: the cosine; patch and word tokens: the
    image-to-text late interaction)."""
    tokens = image_feats.dim() == 3
    img = image_feats if tokens else normalize(image_feats)
    wins: dict[str, list[bool]] = defaultdict(list)
    for i, item in enumerate(items):
        groups = negatives_by_kind(item)
        if not groups:
            continue
        if tokens:
            pos = float(pair_scores(img[i], [caption_feats[item.captions[0]]])[0][0])
        else:
            pos = float(normalize(caption_feats[item.captions[0]][None].to(img.device))[0] @ img[i])
        for kind, captions in groups.items():
            if tokens:
                negs = pair_scores(img[i], [caption_feats[c] for c in captions])[0]
            else:
                negs = normalize(torch.stack([caption_feats[c] for c in captions]).to(img.device)) @ img[i]
            wins[kind].append(bool((pos > negs).all()))
    order = sorted(wins, key=lambda k: (k != "all", k != "category", k))
    return {f"negdisc_{k}": 100.0 * sum(wins[k]) / len(wins[k]) for k in order}


def twin_accuracy(image_feats: torch.Tensor, caption_feats: Sequence[torch.Tensor],
                  items: Sequence[RetrievalItem]) -> dict[str, float]:
    """``twin_i2t_<factor>`` and ``twin_t2i_<factor>`` over every (item, twin) pair of the gallery;
    ``caption_feats[i]`` is item i's caption feature (or its word tokens, scored by late interaction)."""
    index = {it.key: i for i, it in enumerate(items)}
    tokens = image_feats.dim() == 3
    if not tokens:
        img, txt = normalize(image_feats), normalize(torch.stack(list(caption_feats)))
    hits: dict[str, list[bool]] = defaultdict(list)
    for i, item in enumerate(items):
        for key, factor in item.twins:
            j = index.get(key)
            if j is None:  # the twin is not in this gallery (e.g. skipped for a bad image)
                continue
            if tokens:
                own, other = pair_scores(image_feats[i], [caption_feats[i], caption_feats[j]])[0]  # image i's two captions
                mine, twin = (pair_scores(image_feats[k], [caption_feats[i]])[1][0] for k in (i, j))  # caption i's two images
                hits[f"twin_i2t_{factor}"].append(bool(own > other))
                hits[f"twin_t2i_{factor}"].append(bool(mine > twin))
                continue
            hits[f"twin_i2t_{factor}"].append(bool(img[i] @ txt[i] > img[i] @ txt[j]))
            hits[f"twin_t2i_{factor}"].append(bool(txt[i] @ img[i] > txt[i] @ img[j]))
    return {k: 100.0 * sum(v) / len(v) for k, v in sorted(hits.items())}
