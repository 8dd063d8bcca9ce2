"""Pictures written to a run folder: training curves and a retrieval gallery (matplotlib, no display)."""
from __future__ import annotations

import io
import textwrap
from typing import TYPE_CHECKING, Any, Sequence

import torch

from engine.writes import write_atomic

from .late_interaction import pad, token_scores
from .ranking import normalize

if TYPE_CHECKING:
    from .retrieval import Snapshot


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: str, dpi: int) -> None:
    """The figure as a PNG, written atomically (a full disk leaves the previous picture intact)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    _pyplot().close(fig)
    write_atomic(path, buf.getvalue())


def plot_curves(curves: Sequence[dict], path: str) -> None:
    """Training loss and validation R@1 (both directions) per epoch."""
    plt = _pyplot()
    epochs = [c["epoch"] for c in curves]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.5))
    ax1.plot(epochs, [c["loss"] for c in curves], marker="o")
    ax1.set(xlabel="epoch", ylabel="training loss", title="loss")
    for key, label in (("val_i2t_R@1", "image-to-text"), ("val_t2i_R@1", "text-to-image")):
        if any(key in c for c in curves):
            ax2.plot([c["epoch"] for c in curves if key in c], [c[key] for c in curves if key in c], marker="o", label=label)
    ax2.set(xlabel="epoch", ylabel="R@1 (%)", title="validation R@1")
    if ax2.lines:
        ax2.legend()
    from matplotlib.ticker import MaxNLocator

    for ax in (ax1, ax2):  # epochs are whole numbers, also for a run of one or two (where a locator gives fractions)
        if len(epochs) <= 10:
            ax.set_xticks(epochs)
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    _save(fig, path, dpi=100)


def pick_hits_and_misses(hit: Sequence[bool], n: int) -> list[int]:
    """``n`` query indices, half of them hits at rank 1 and half misses where there are enough
    (the other kind fills the rest), evenly spread over each kind; hits first."""
    hits = [i for i, h in enumerate(hit) if h]
    misses = [i for i, h in enumerate(hit) if not h]
    n_miss = min(len(misses), max(n // 2, n - len(hits)))
    n_hit = min(len(hits), n - n_miss)

    def spread(group: list[int], k: int) -> list[int]:
        return [group[round(j * (len(group) - 1) / max(k - 1, 1))] for j in range(k)] if k else []

    return spread(hits, n_hit) + spread(misses, n_miss)


def plot_gallery(snapshot: Snapshot, path: str, n_text: int = 4, n_image: int = 4, top: int = 5) -> dict[str, list[str]]:
    """Text queries with their top images and image queries with their top captions, from the
    first domain of an evaluation: half of each are hits at rank 1 and half misses (so the
    picture shows what goes wrong, not only what works); correct answers are marked and a miss
    says where the true match ranked. The items also need ``impath``. Returns the verdict
    ("hit"/"miss") and that rank of each query drawn, per direction."""
    from PIL import Image

    plt = _pyplot()
    items, feats = snapshot.items, snapshot.features
    domain = items[0].domain_name
    idx = [i for i, it in enumerate(items) if it.domain_name == domain]
    caps = [items[i].captions[0] for i in idx]
    if feats.dim() == 3:  # patch and word tokens: late interaction (docs/method.md, "FILIP")
        i2t_scores, t2i_scores = token_scores(feats[idx], *pad([snapshot.caption_features[c] for c in caps]))
        caption_scores = t2i_scores.T  # [captions, images]
    else:
        img, txt = normalize(feats[idx]), normalize(torch.stack([snapshot.caption_features[c] for c in caps]))
        caption_scores, i2t_scores = txt @ img.T, img @ txt.T
    t2i_order = caption_scores.argsort(dim=1, descending=True).tolist()
    i2t_order = i2t_scores.argsort(dim=1, descending=True).tolist()
    t2i_rank, i2t_rank = _true_ranks(t2i_order, caps), _true_ranks(i2t_order, caps)
    t2i_top, i2t_top = [o[:top] for o in t2i_order], [o[:top] for o in i2t_order]
    t2i_hit, i2t_hit = [r == 1 for r in t2i_rank], [r == 1 for r in i2t_rank]
    text_q, image_q = pick_hits_and_misses(t2i_hit, n_text), pick_hits_and_misses(i2t_hit, n_image)
    fig, axes = plt.subplots(n_text + n_image, top + 1, figsize=(2.2 * (top + 1), 2.2 * (n_text + n_image)),
                             squeeze=False)
    for row, q in enumerate(text_q):
        verdict = "hit at rank 1" if t2i_hit[q] else f"miss: true image at rank {t2i_rank[q]}"
        axes[row, 0].text(0, 0.5, f"[{verdict}]\n" + textwrap.fill(caps[q], 28), fontsize=6.5, va="center")
        for col, j in enumerate(t2i_top[q], start=1):
            ax = axes[row, col]
            ax.imshow(Image.open(items[idx[j]].impath).convert("RGB"))
            ok = caps[j] == caps[q]
            ax.set_title(("correct " if ok else "") + f"#{col}", color="green" if ok else "black", fontsize=8)
            for spine in ax.spines.values():
                spine.set(edgecolor="green" if ok else "white", linewidth=3)
    for r, q in enumerate(image_q):
        row = n_text + r
        verdict = "hit at rank 1" if i2t_hit[q] else f"miss: true caption at rank {i2t_rank[q]}"
        axes[row, 0].imshow(Image.open(items[idx[q]].impath).convert("RGB"))
        axes[row, 0].set_title(f"image query\n({verdict})", fontsize=7)
        for col in range(1, top + 1):
            axes[row, col].remove()
        ax = fig.add_subplot(axes[0, 0].get_gridspec()[row, 1:])
        for k, j in enumerate(i2t_top[q], 1):
            ok = caps[j] == caps[q]
            line = f"{k}. {'(correct) ' if ok else ''}{textwrap.shorten(caps[j], 120)}"
            ax.text(0, 1 - (k - 0.5) / top, line, fontsize=6.5, va="center", color="green" if ok else "black")
        ax.axis("off")
    for ax in fig.axes:
        ax.set_xticks([])
        ax.set_yticks([])
    used = set(range(len(text_q))) | {n_text + r for r in range(len(image_q))}
    for row in range(n_text + n_image):
        if row not in used:  # fewer queries than rows (tiny galleries)
            for ax in axes[row]:
                ax.axis("off")
    for row in range(len(text_q)):
        axes[row, 0].axis("off")
    fig.suptitle(f"Retrieval gallery ({domain or 'test'}): text queries -> top-{top} images, image queries -> "
                 f"top-{top} captions; hits and misses at rank 1", fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.45 / fig.get_figheight()))  # the title's own band, above every panel
    _save(fig, path, dpi=110)
    verdict = {True: "hit", False: "miss"}
    return {"text": [verdict[t2i_hit[q]] for q in text_q], "image": [verdict[i2t_hit[q]] for q in image_q],
            "text_ranks": [t2i_rank[q] for q in text_q], "image_ranks": [i2t_rank[q] for q in image_q]}


def _true_ranks(orders: list[list[int]], caps: list[str]) -> list[int]:
    """For each query (row), the 1-based position of its first correct answer in the drawn order:
    an answer is correct when its caption is the query's (exact duplicates count as correct)."""
    return [next(k for k, j in enumerate(order, 1) if caps[j] == caps[q]) for q, order in enumerate(orders)]
