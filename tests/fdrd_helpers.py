"""Helpers for FDRD tests: configs and temporary CoOp layouts with tiny images."""
from __future__ import annotations

import io
import json
import os
import shutil

from PIL import Image

from datasets.fdrd.domains import domain_for_file
from datasets.fdrd.loader import image_path_in_domain
from plugins import default_cfg

_buf = io.BytesIO()
Image.new("RGB", (4, 4), (200, 10, 10)).save(_buf, "PNG")
TINY_PNG = _buf.getvalue()


def fdrd_cfg(root, domains=("all",), name="FDRD", seed=1, shots=-1, **fdrd):
    cfg = default_cfg()
    cfg.DATASET.NAME = name
    cfg.DATASET.ROOT = str(root)
    cfg.SEED = seed
    cfg.DATASET.NUM_SHOTS = shots
    cfg.DATASET.FDRD.DOMAINS = tuple(domains)
    for k, v in fdrd.items():
        cfg.DATASET.FDRD[k] = v
    return cfg


def write_images(root, caption_path) -> int:
    """Tiny images at every path the loader resolves for a released caption file."""
    domain, _ = domain_for_file(os.path.basename(caption_path))
    with open(caption_path, encoding="utf-8") as f:
        data = json.load(f)
    for key, fields in data.items():
        rel, _ = image_path_in_domain(domain, key, fields, None)
        path = os.path.join(root, domain.folder, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(TINY_PNG)
    return len(data)


def layout_from(root, caption_paths) -> None:
    os.makedirs(os.path.join(root, "fdrd"), exist_ok=True)
    for p in caption_paths:
        shutil.copy(p, os.path.join(root, "fdrd", os.path.basename(p)))
        write_images(root, p)


def write_captions(root, fname, entries: dict) -> str:
    path = os.path.join(root, "fdrd", fname)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(entries, f)
    return path


def dtd_entries(classes=("banded", "dotted", "striped"), per_class=6, start=1):
    """Schema-C entries in DTD's naming."""
    out = {}
    for c in classes:
        for i in range(start, start + per_class):
            key = f"{c}_{i:04d}.jpg"
            out[key] = {"file_name": key, "class_name": c, "file_path": "YOUR_IMAGE_PATH",
                        "positive": f"This is a photo of {c}.A {['red', 'blue', 'green'][i % 3]} {c} fabric, item {i}.",
                        "negative": []}
    return out


def mini_dtd(root, per_class=6):
    """A small DTD domain: train and test files plus their images."""
    train = write_captions(root, "inter_dtd_train.json", dtd_entries(per_class=per_class))
    test = write_captions(root, "inter_dtd_test.json", dtd_entries(per_class=2, start=100))
    write_images(root, train)
    write_images(root, test)
    return train, test
