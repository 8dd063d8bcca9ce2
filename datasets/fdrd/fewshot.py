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


def fewshot_keys(train: tuple[list[str], list[int]], val: tuple[list[str], list[int]], shots: int, seed: int,
                 cache_path: str | None) -> tuple[list[str], list[str], str]:
    """Keys of the few-shot train subset and of the val subset (``min(shots, 4)`` per class, as CoOp).

    Returns (train keys, val keys, a note for the log).
    """
    if cache_path and os.path.isfile(cache_path):
        with open(cache_path, encoding="utf-8") as f:
            cached = json.load(f)
        return cached["train"], cached["val"], f"Loading preprocessed few-shot data from {cache_path}"
    rng = random.Random(seed)
    train_keys = sample_per_class(*train, shots, rng)
    val_keys = sample_per_class(*val, min(shots, 4), rng)
    note = f"Creating a {shots}-shot dataset (seed {seed})"
    if cache_path:
        try:
            os.makedirs(os.path.dirname(cache_path), exist_ok=True)
            tmp = f"{cache_path}.tmp-{os.getpid()}"
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump({"train": train_keys, "val": val_keys, "shots": shots, "seed": seed}, f)
            os.replace(tmp, cache_path)
            note += f"; saved to {cache_path}"
        except OSError as e:
            note += f"; not cached ({cache_path} is not writable: {e})"
    return train_keys, val_keys, note
