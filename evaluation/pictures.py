"""Pictures written to a run folder: training curves and a retrieval gallery (matplotlib, no display)."""
from __future__ import annotations

import textwrap
from typing import Any, Sequence

import torch

from .ranking import normalize


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


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
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_gallery(last: dict, path: str, n_text: int = 3, n_image: int = 3, top: int = 5) -> None:
    """A few text queries with their top images and a few image queries with their top captions,
    the correct ones marked, from the first domain of the last test evaluation."""
    from PIL import Image

    plt = _pyplot()
    items, feats = last["items"], last["features"]
    domain = getattr(items[0], "domain_name", "")
    idx = [i for i, it in enumerate(items) if getattr(it, "domain_name", "") == domain]
    img = normalize(feats[idx])
    caps = [items[i].caption for i in idx]
    txt = normalize(torch.stack([last["caption_features"][c] for c in caps]))
    pick = lambda n: sorted({round(k * (len(idx) - 1) / max(n - 1, 1)) for k in range(n)})  # noqa: E731
    fig, axes = plt.subplots(n_text + n_image, top + 1, figsize=(2.2 * (top + 1), 2.2 * (n_text + n_image)))
    for row, q in enumerate(pick(n_text)):
        order = (txt[q] @ img.T).argsort(descending=True)[:top].tolist()
        axes[row, 0].text(0, 0.5, textwrap.fill(caps[q], 28), fontsize=6.5, va="center")
        for col, j in enumerate(order, start=1):
            ax = axes[row, col]
            ax.imshow(Image.open(items[idx[j]].impath).convert("RGB"))
            ok = caps[j] == caps[q]
            ax.set_title(("correct " if ok else "") + f"#{col}", color="green" if ok else "black", fontsize=8)
            for spine in ax.spines.values():
                spine.set(edgecolor="green" if ok else "white", linewidth=3)
    for r, q in enumerate(pick(n_image)):
        row = n_text + r
        order = (img[q] @ txt.T).argsort(descending=True)[:top].tolist()
        axes[row, 0].imshow(Image.open(items[idx[q]].impath).convert("RGB"))
        axes[row, 0].set_title("image query", fontsize=8)
        for col in range(1, top + 1):
            axes[row, col].remove()
        ax = fig.add_subplot(axes[0, 0].get_gridspec()[row, 1:])
        for k, j in enumerate(order, 1):
            ok = caps[j] == caps[q]
            line = f"{k}. {'(correct) ' if ok else ''}{textwrap.shorten(caps[j], 120)}"
            ax.text(0, 1 - (k - 0.5) / top, line, fontsize=6.5, va="center", color="green" if ok else "black")
        ax.axis("off")
    for ax in fig.axes:
        ax.set_xticks([])
        ax.set_yticks([])
    for row in range(n_text):
        axes[row, 0].axis("off")
    fig.suptitle(f"Retrieval gallery ({domain or 'test'}): text queries -> top-{top} images, image queries -> top-{top} captions",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
