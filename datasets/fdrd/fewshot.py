"""Few-shot subsets (DATASET.NUM_SHOTS images per class), seeded like CoOp and cached on disk.

The subset depends only on (items, shots, seed): items are grouped by label in sorted key
order and drawn with ``random.Random(seed).sample``, so the same seed gives the same subset on
any machine, whatever else consumed the global RNG. The cache file name carries a hash of the
source files' contents and of this sampler's version, so a changed caption or split file is
never served a stale subset.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
from collections import defaultdict
from typing import Sequence

from engine.writes import DiskFullError, write_atomic

SAMPLER_VERSION = "fdrd-fewshot-v1"


def content_hash(paths: Sequence[str]) -> str:
    h = hashlib.sha256(SAMPLER_VERSION.encode())
    for path in paths:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()[:16]


def sample_per_class(keys: Sequence[str], labels: Sequence[int], shots: int, rng: random.Random) -> list[str]:
    """``shots`` keys per label (all of a label's keys when it has fewer)."""
    by_label: defaultdict[int, list[str]] = defaultdict(list)
    for key, label in sorted(zip(keys, labels)):
        by_label[label].append(key)
    picked: list[str] = []
    for label in sorted(by_label):
        group = by_label[label]
        picked.extend(rng.sample(group, min(shots, len(group))))
    return picked


def shortfall(keys: Sequence[str], labels: Sequence[int], picked: Sequence[str], shots: int) -> str:
    """How many images the subset holds, and the classes with fewer than ``shots`` (all of theirs used)."""
    label_of = dict(zip(keys, labels))
    per_class = defaultdict(int)
    for k in picked:
        per_class[label_of[k]] += 1
    short = [n for n in per_class.values() if n < shots]
    text = f"{len(picked):,} training images for {len(per_class)} classes"
    if short:
        text += (f"; {len(short)} classes have fewer than {shots} images (the fewest: {min(short)}), so all of "
                 "theirs are used")
    return text


def fewshot_keys(train: tuple[list[str], list[int]], val: tuple[list[str], list[int]], shots: int, seed: int,
                 cache_path: str | None) -> tuple[list[str], list[str], str]:
    """Keys of the few-shot train subset and of the val subset (``min(shots, 4)`` per class, as CoOp).

    Returns (train keys, val keys, a note for the log saying how many images were used).
    """
    if cache_path and os.path.isfile(cache_path):
        with open(cache_path, encoding="utf-8") as f:
            cached = json.load(f)
        used = shortfall(*train, cached["train"], shots)
        return cached["train"], cached["val"], f"Loading preprocessed few-shot data from {cache_path}: {used}"
    rng = random.Random(seed)
    train_keys = sample_per_class(*train, shots, rng)
    val_keys = sample_per_class(*val, min(shots, 4), rng)
    note = f"Creating a {shots}-shot dataset (seed {seed}): {shortfall(*train, train_keys, shots)}"
    if cache_path:
        try:
            write_atomic(cache_path, json.dumps({"train": train_keys, "val": val_keys, "shots": shots, "seed": seed}))
            note += f"; saved to {cache_path}"
        except DiskFullError:
            raise  # the run would fail at its next write: say so now, with the space needed
        except OSError as e:
            note += f"; not cached ({cache_path} is not writable: {e})"
    return train_keys, val_keys, note
