"""A finished run as a model (docs/model.md, "Use a trained model"):

    from trained import load_trained
    model = load_trained("output/fdrd_synth/DCAR/synth_16shots/seed1")
    scores = model.encode_image(images) @ model.encode_text(["a photo of ..."]).T

:func:`load_trained` rebuilds the run's :class:`~trainers.model.PromptedCLIP` from its
``config.yaml`` (the trainer's own ``retrieval_model``, the recorded backbone and its hash) and
loads its weights as ``--eval-only`` does; :func:`preprocess` is the run's test preprocessing.
``python -m trained retrieve`` ranks a folder of images for a caption, or captions for an image:

    python -m trained retrieve --model-dir RUN --images DIR --query "a photo of ..." [--top 5]
    python -m trained retrieve --model-dir RUN --image FILE --query "caption one" --query "caption two"
    python -m trained retrieve --model-dir RUN --image FILE --captions captions.txt
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Callable

import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

import engine
from configuration import build_cfg
from datasets.text import CONTEXT_LENGTH, encode
from engine.fixes.checkpoint import load_weights
from engine.precision import resolve_device, resolve_precision
from reporting.cli import bad_input
from trainers.base import load_clip
from trainers.model import PromptedCLIP


def run_config(run_dir: str) -> Any:
    """The resolved config a run folder was trained with (its ``config.yaml``)."""
    path = os.path.join(run_dir, "config.yaml")
    if not os.path.isfile(path):
        raise ValueError(f"{run_dir} is not a run folder: it has no config.yaml (give the folder train.py wrote, "
                         "the one holding config.yaml and results.json)")
    try:
        return build_cfg([path])
    except ValueError as e:
        if not str(e).startswith("Config error"):
            raise
        raise ValueError(f"{e}. It is the run's config: copy the run folder again if it is damaged (a run of another "
                         "version of this code needs that version)") from None


def load_trained(run_dir: str, device: str | torch.device | None = None, epoch: int | None = None) -> PromptedCLIP:
    """The :class:`PromptedCLIP` of the run in ``run_dir`` (any trainer), in eval mode, on
    ``device`` (default: CUDA when available, else CPU) under the run's precision; ``epoch``: the
    weights of that epoch (default: the best-val model, else the last)."""
    cfg = run_config(run_dir)
    if not os.path.isfile(os.path.join(run_dir, "results.json")):
        print(f"Note: {run_dir} has no results.json: the run did not finish (stopped or still running); its latest "
              "checkpoint is used")
    trainer = engine.TRAINER_REGISTRY.get(cfg.TRAINER.NAME)
    where = checked_device(device) if device is not None else resolve_device(cfg.USE_CUDA)
    precision = resolve_precision(cfg.TRAINER[trainer.CONFIG_NODE].PREC, where)
    clip_model, _ = load_clip(cfg, precision, frozen=trainer.FROZEN_CLIP)
    model, trainable = trainer.retrieval_model(cfg, clip_model, precision)
    for name, module in trainable.items():
        load_weights(module, os.path.join(run_dir, name), epoch)
    return model.requires_grad_(False).eval()


def preprocess(run_dir: str) -> Callable[[Image.Image], torch.Tensor]:
    """The run's test preprocessing: a PIL image -> the [3, H, W] tensor its model encodes."""
    return engine.build_transform(run_config(run_dir), is_train=False)


IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m trained", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("retrieve", help="rank images for a caption, or captions for an image, with a trained model")
    r.add_argument("--model-dir", required=True, help="a finished run folder (holding config.yaml and the weights)")
    images = r.add_mutually_exclusive_group(required=True)
    images.add_argument("--images", help="a folder of images to rank for each --query")
    images.add_argument("--image", help="one image to rank the captions for")
    r.add_argument("--query", action="append", default=[], help="a caption (repeat for several)")
    r.add_argument("--captions", help="a text file of captions, one per line (with --image)")
    r.add_argument("--top", type=int, default=5, help="how many results to print (default 5)")
    r.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: CUDA when available)")
    r.add_argument("--batch-size", type=int, default=64, help="images encoded per batch")
    return p


def checked_device(name: str | torch.device) -> torch.device:
    """``name`` as a device this machine has (a ValueError naming the fix otherwise)."""
    try:
        where = torch.device(name)
    except (RuntimeError, TypeError) as e:
        raise ValueError(f"--device {name!r} is not a device ({e}): use cpu, cuda or cuda:N") from None
    if where.type == "cuda" and (not torch.cuda.is_available() or (where.index or 0) >= torch.cuda.device_count()):
        raise ValueError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA GPU(s); use --device cpu")
    return where


def read_captions(path: str) -> list[str]:
    """The non-empty lines of a UTF-8 text file (a ValueError naming the file otherwise)."""
    if not os.path.isfile(path):
        raise ValueError(f"--captions {path} is not a file (a text file of captions, one per line)")
    try:
        with open(path, encoding="utf-8") as f:
            return [line.strip() for line in f if line.strip()]
    except UnicodeDecodeError as e:
        raise ValueError(f"--captions {path} is not UTF-8 text (byte {e.start}: {e.reason}); save it as UTF-8") from None


def note_truncated(captions: list[str], reserved: int) -> None:
    """Say which captions are longer than the text encoder's context (they are read up to it)."""
    budget = CONTEXT_LENGTH - 2 - reserved
    for i, caption in enumerate(captions, 1):
        n = len(encode(caption))
        if n > budget:
            print(f"Note: caption {i} ({len(caption):,} characters, {n:,} tokens) is longer than the model's "
                  f"{CONTEXT_LENGTH}-token context: only its first {budget} tokens are read")


def image_files(folder: str) -> list[str]:
    if not os.path.isdir(folder):
        raise ValueError(f"--images {folder} is not a folder")
    files = sorted(os.path.join(root, f) for root, _, names in os.walk(folder) for f in names
                   if f.lower().endswith(IMAGE_EXTENSIONS))
    if not files:
        raise ValueError(f"--images {folder} holds no image ({', '.join(IMAGE_EXTENSIONS)})")
    return files


def read_images(paths: list[str], transform: Callable[[Image.Image], torch.Tensor]) -> tuple[list[str], list[torch.Tensor]]:
    """The readable ones of ``paths`` and their tensors; each unreadable one is named."""
    kept, tensors = [], []
    for path in paths:
        try:
            with Image.open(path) as im:
                tensors.append(transform(im.convert("RGB")))
            kept.append(path)
        except (OSError, UnidentifiedImageError, Image.DecompressionBombError, SyntaxError, ValueError) as e:
            print(f"skipped unreadable image: {path} ({type(e).__name__}: {e})")
    return kept, tensors


def encode_images(model: PromptedCLIP, paths: list[str], transform: Callable[[Image.Image], torch.Tensor],
                  batch_size: int) -> tuple[list[str], torch.Tensor]:
    """Unit features of the readable images among ``paths``, read and encoded a batch at a time
    (a large folder is never held in memory as tensors); unreadable images are named and counted."""
    kept, feats = [], []
    for b in range(0, len(paths), batch_size):
        readable, tensors = read_images(paths[b:b + batch_size], transform)
        if tensors:
            kept += readable
            feats.append(F.normalize(model.encode_image(torch.stack(tensors)), dim=-1))
    if len(kept) < len(paths):
        print(f"{len(paths) - len(kept)} of {len(paths)} images skipped as unreadable")
    if not kept:
        raise ValueError("no readable image to rank")
    return kept, torch.cat(feats)


def print_top(scores: torch.Tensor, labels: list[str], top: int) -> None:
    """The ``top`` best of ``labels`` by ``scores``: rank, score, label."""
    values, order = scores.topk(min(top, len(labels)))
    for rank, (v, i) in enumerate(zip(values.tolist(), order.tolist()), 1):
        print(f"  {rank:>3}  {v:.4f}  {labels[i]}")


@torch.no_grad()
def retrieve(args: argparse.Namespace) -> None:
    captions = list(args.query) + (read_captions(args.captions) if args.captions else [])
    if not captions:
        raise ValueError("give at least one caption: --query \"...\" (repeatable) or --captions FILE")
    empty = [i for i, c in enumerate(args.query, 1) if not c.strip()]
    if empty:
        raise ValueError(f"--query number {empty[0]} is empty: give the caption to rank by")
    if args.top < 1:
        raise ValueError(f"--top must be at least 1, got {args.top}")
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.image and not os.path.isfile(args.image):
        raise ValueError(f"--image {args.image} does not exist")
    paths = image_files(args.images) if args.images else [args.image]
    model = load_trained(args.model_dir, args.device)
    paths, img = encode_images(model, paths, preprocess(args.model_dir), args.batch_size)
    note_truncated(captions, model.n_ctx)
    scores = img @ F.normalize(model.encode_text(captions), dim=-1).T  # [images, captions] cosines
    if args.images:
        for c, caption in enumerate(captions):
            print(f"query: {caption}")
            print_top(scores[:, c], paths, args.top)
        return
    print(f"image: {paths[0]}")
    print_top(scores[0], captions, args.top)


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    try:
        retrieve(args)
    except (ValueError, OSError) as e:
        if os.environ.get("DCAR_DEBUG"):
            raise
        return bad_input(e)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
