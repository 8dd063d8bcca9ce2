"""The ``Retrieval`` evaluator: image-to-text and text-to-image recall on each domain's test split.

Protocol (per domain): the gallery is the whole split -- every image and every positive caption
(negatives never enter it). Features are L2-normalised and compared by fp32 dot products
(:mod:`evaluation.ranking`: chunked, exact, ties broken by gallery index).

* image-to-text: a query image hits at K if any of its correct captions is in the top K;
* text-to-image: every caption is a query, its image is the correct answer.

**Duplicate captions.** When different images carry the exact same caption string, that
string is correct for each of those images (image-to-text), and each of those images is a
correct answer for it (text-to-image); their number is reported. Each unique caption is
encoded once. With several domains, metrics are given per domain (``<Domain>/<metric>``) and
as the unweighted mean over domains (the published table's AVG row) under the plain names.
"""
from __future__ import annotations

from collections import OrderedDict, defaultdict
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch
from tqdm import tqdm
from yacs.config import CfgNode as CN

from datasets.text import encode
from engine import EVALUATOR_REGISTRY, EvaluatorBase
from engine import distributed as dist
from reporting.metric_names import format_metric

from .discrimination import negative_discrimination, negatives_by_kind, twin_accuracy
from .items import RetrievalItem, check_items
from .late_interaction import pad, token_scores
from .ranking import ranks, ranks_from_scores, recall_metrics


def extend_cfg(cfg: Any) -> None:
    c = CN()
    c.KS = (1, 5, 10)  # recall cut-offs
    c.CHUNK = 1024  # similarity tiles are at most CHUNK x CHUNK
    c.TEXT_BATCH_SIZE = 256  # captions encoded per batch
    cfg.TEST.RETRIEVAL = c


def _csr(groups: Sequence[Sequence[int]], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = torch.tensor([len(g) for g in groups], dtype=torch.long)
    ptr = torch.zeros(len(groups) + 1, dtype=torch.long)
    ptr[1:] = torch.cumsum(lengths, 0)
    idx = torch.tensor([i for g in groups for i in g], dtype=torch.long)
    return ptr.to(device), idx.to(device)


def domain_metrics(image_feats: torch.Tensor, image_captions: Sequence[Sequence[str]], caption_feats: dict[str, torch.Tensor],
                   ks: Sequence[int], chunk: int) -> tuple[dict[str, float], dict[str, int], dict[str, list[int]]]:
    """Metrics of one gallery, its sizes, and each query's 0-based rank (``i2t`` per image,
    ``t2i`` per caption). ``image_captions[i]`` are image i's captions; ``caption_feats`` maps
    each caption string to its feature."""
    texts = [c for caps in image_captions for c in caps]
    strings = list(dict.fromkeys(texts))
    pos_of = defaultdict(list)  # caption string -> gallery positions
    for t, s in enumerate(texts):
        pos_of[s].append(t)
    images_of = defaultdict(list)  # caption string -> images carrying it
    for i, caps in enumerate(image_captions):
        for s in dict.fromkeys(caps):
            images_of[s].append(i)
    device = image_feats.device
    img = image_feats
    row_of = {s: r for r, s in enumerate(strings)}
    text_rows = torch.tensor([row_of[s] for s in texts], device=device)
    i2t_groups = [sorted({p for s in caps for p in pos_of[s]}) for caps in image_captions]
    t2i_groups = _csr([images_of[s] for s in strings], device)
    if img.dim() == 3:  # patch tokens: late interaction (docs/method.md, "FILIP"), ranked from its scores
        i2t_scores, t2i_scores = token_scores(img, *pad([caption_feats[s].to(device) for s in strings]))
        i2t = ranks_from_scores(i2t_scores[:, text_rows], *_csr(i2t_groups, device))
        t2i_unique = ranks_from_scores(t2i_scores.T, *t2i_groups)
    else:
        uniq = torch.stack([caption_feats[s] for s in strings]).to(device)
        i2t = ranks(img, uniq[text_rows], *_csr(i2t_groups, device), chunk=chunk)
        t2i_unique = ranks(uniq, img, *t2i_groups, chunk=chunk)
    t2i = t2i_unique[text_rows]

    metrics = {**recall_metrics(i2t, tuple(ks), "i2t"), **recall_metrics(t2i, tuple(ks), "t2i")}
    ordered = OrderedDict((k, metrics[k]) for k in [f"i2t_R@{k}" for k in ks] + ["i2t_mean"]
                          + [f"t2i_R@{k}" for k in ks] + ["t2i_mean"])
    ordered["rsum"] = sum(v for k, v in metrics.items() if "_R@" in k)
    for k in ("i2t_medr", "i2t_meanr", "t2i_medr", "t2i_meanr"):
        ordered[k] = metrics[k]
    shared = sum(len(pos_of[s]) for s in strings if len(images_of[s]) > 1)
    sizes = {"images": len(image_captions), "captions": len(texts), "unique_captions": len(strings),
             "duplicate_captions": shared}
    return ordered, sizes, {"i2t": i2t.tolist(), "t2i": t2i.tolist()}


@dataclass
class Snapshot:
    """What pictures and error analysis need from one evaluation: the image features in item
    order, the items, and each caption string's feature."""

    features: torch.Tensor
    items: list[RetrievalItem]
    caption_features: dict[str, torch.Tensor]


@dataclass
class RetrievalResult:
    """One evaluation: ``metrics`` per domain (``<Domain>/<metric>``) and their unweighted mean
    (plain names); ``per_domain`` the same per gallery; ``sizes`` each gallery's images and
    captions; ``item_ranks`` each query's 0-based rank per gallery and direction."""

    metrics: OrderedDict[str, float]
    per_domain: OrderedDict[str, dict[str, float]]
    sizes: dict[str, dict[str, int]]
    item_ranks: dict[str, dict[str, list[int]]]
    ks: tuple[int, ...]
    snapshot: Snapshot


@EVALUATOR_REGISTRY.register()
class Retrieval(EvaluatorBase):
    """Collects image features with their items (``process``), encodes the captions once and
    computes retrieval metrics (``evaluate``)."""

    def __init__(self, cfg: Any, lab2cname: dict | None = None, **kwargs: Any) -> None:
        super().__init__(cfg)
        r = cfg.TEST.RETRIEVAL
        self.ks, self.chunk, self.text_batch = tuple(r.KS), r.CHUNK, r.TEXT_BATCH_SIZE
        self.reset()

    def reset(self) -> None:
        self._features: list[torch.Tensor] = []
        self._items: list[RetrievalItem] = []

    def process(self, mo: torch.Tensor, gt: Sequence[RetrievalItem]) -> None:
        """``mo``: image features [B, D]; ``gt``: the B dataset items (:class:`RetrievalItem`)."""
        if len(mo) != len(gt):
            raise ValueError(f"Retrieval.process got {len(mo)} features for {len(gt)} items")
        check_items(gt, "Retrieval.process")
        self._features.append(mo.detach().float())
        self._items.extend(gt)

    def encode_captions(self, strings: list[str], encode_text: Callable[[list[str]], torch.Tensor]) -> dict[str, torch.Tensor]:
        """Each unique caption once, in batches of similar token length, so that the text encoder
        (which runs only up to a batch's longest caption) computes little padding. Under
        ``torchrun`` the batches are dealt round-robin to the processes and gathered."""
        order = sorted(strings, key=lambda s: len(encode(s)))
        batches = [order[b:b + self.text_batch] for b in range(0, len(order), self.text_batch)]
        shared = len(batches) >= dist.world_size()
        mine = batches[dist.rank()::dist.world_size()] if shared else batches
        done, feats, tokens = [], [], False
        for batch in tqdm(mine, desc="Encoding captions"):
            done.extend(batch)
            out = encode_text(batch)  # features [B, D], or each caption's word tokens [n_i, D] (late interaction)
            tokens = isinstance(out, list)
            feats.extend(t.float() for t in out)
        if shared:
            done = dist.gather_objects(done)
            feats = ([t.to(feats[0].device) for t in dist.gather_objects([t.cpu() for t in feats])] if tokens
                     else list(dist.gather_rows(torch.stack(feats))))
        return dict(zip(done, feats))

    def evaluate(self, encode_text: Callable[[list[str]], torch.Tensor] | None = None,
                 fine_grained: bool = True) -> RetrievalResult:
        """Metrics per domain and their unweighted mean; with ``fine_grained`` also negative
        discrimination and twin accuracy (:mod:`evaluation.discrimination`), which encode every
        item's negatives too. Prints the metrics; returns them with what pictures need."""
        if not self._items:
            raise ValueError("Retrieval.evaluate: no images were processed")
        if encode_text is None:
            raise ValueError("Retrieval.evaluate needs encode_text (a function from captions to features)")
        features = torch.cat(self._features)
        galleries = [it.domain_name or "all" for it in self._items]
        domains = list(dict.fromkeys(galleries))
        strings = [c for it in self._items for c in it.captions]
        if fine_grained:
            strings += [c for it in self._items for c in negatives_by_kind(it).get("all", ())]
        caption_feats = self.encode_captions(list(dict.fromkeys(strings)), encode_text)
        per_domain, sizes, item_ranks = OrderedDict(), {}, {}
        for dom in domains:
            idx = [i for i, g in enumerate(galleries) if g == dom]
            items = [self._items[i] for i in idx]
            per_domain[dom], sizes[dom], item_ranks[dom] = domain_metrics(
                features[idx], [it.captions for it in items], caption_feats, self.ks, self.chunk)
            if fine_grained:
                per_domain[dom].update(negative_discrimination(features[idx], items, caption_feats))
                per_domain[dom].update(twin_accuracy(features[idx], [caption_feats[it.captions[0]] for it in items],
                                                     items))
        results = OrderedDict()
        if len(domains) > 1:
            for dom, m in per_domain.items():
                results.update((f"{dom}/{k}", v) for k, v in m.items())
        for key in dict.fromkeys(k for m in per_domain.values() for k in m):  # unweighted mean over the domains
            values = [m[key] for m in per_domain.values() if key in m]  # that have the metric
            results[key] = sum(values) / len(values)
        self._print(results, sizes)
        return RetrievalResult(results, per_domain, sizes, item_ranks, self.ks,
                               Snapshot(features, list(self._items), caption_feats))

    def _print(self, results: OrderedDict, sizes: dict) -> None:
        print("=> result")
        for dom, s in sizes.items():
            print(f"* gallery {dom}: {s['images']:,} images, {s['captions']:,} captions "
                  f"({s['duplicate_captions']:,} in duplicate groups across images)")
        for name, value in results.items():
            print(format_metric(name, value))
