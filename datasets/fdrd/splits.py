"""CoOp's split files: the authoritative map from an image to its label, class name and split
(``split_zhou_<Name>.json``; FGVCAircraft's ``variants.txt`` + ``images_variant_*.txt``)."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from .domains import Domain


class SplitFileError(ValueError):
    pass


@dataclass
class SplitIndex:
    """Paths are relative to the domain folder."""

    files: list[str]
    entries: dict[str, tuple[int, str, str]] = field(default_factory=dict)  # path -> (label, classname, split)
    by_basename: dict[str, str | None] = field(default_factory=dict)  # None: ambiguous

    def add(self, path: str, label: int, classname: str, split: str) -> None:
        path = os.path.normpath(path)
        self.entries[path] = (label, classname, split)
        base = os.path.basename(path)
        self.by_basename[base] = None if base in self.by_basename else path

    def lookup(self, path: str) -> str | None:
        path = os.path.normpath(path)
        if path in self.entries:
            return path
        return self.by_basename.get(os.path.basename(path))

    def classes(self) -> dict[int, str]:
        return {label: name for label, name, _ in self.entries.values()}


def _read_zhou(path: str, prefix: str) -> SplitIndex:
    index = SplitIndex([path])
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise SplitFileError(f"{path}: cannot read CoOp split file ({e}). Re-download it (see docs/data.md).") from None
    for split in ("train", "val", "test"):
        rows = data.get(split) if isinstance(data, dict) else None
        if not isinstance(rows, list):
            raise SplitFileError(f'{path}: expected {{"train": [...], "val": [...], "test": [...]}} (CoOp split format)')
        for row in rows:
            if not (isinstance(row, list) and len(row) == 3):
                raise SplitFileError(f"{path}: {split} row {row!r} is not [relative_path, label, classname]")
            index.add(os.path.join(prefix, row[0]), int(row[1]), str(row[2]), split)
    return index


def _read_aircraft(folder: str, domain: Domain) -> SplitIndex | None:
    variants = os.path.join(folder, "variants.txt")
    if not os.path.isfile(variants):
        return None
    with open(variants, encoding="utf-8") as f:
        names = [line.strip() for line in f if line.strip()]
    label_of = {n: i for i, n in enumerate(names)}
    index = SplitIndex([variants])
    for split in ("train", "val", "test"):
        path = os.path.join(folder, f"images_variant_{split}.txt")
        if not os.path.isfile(path):
            continue
        index.files.append(path)
        with open(path, encoding="utf-8") as f:
            for line in f:
                parts = line.strip().split(" ", 1)
                if len(parts) == 2 and parts[1] in label_of:
                    index.add(os.path.join(domain.image_dir, parts[0] + ".jpg"), label_of[parts[1]], parts[1], split)
    return index


def read_split_index(domain_root: str, domain: Domain) -> SplitIndex | None:
    """The domain's split index, or None when no split file is present."""
    if domain.split_file:
        path = os.path.join(domain_root, domain.split_file)
        return _read_zhou(path, domain.split_root) if os.path.isfile(path) else None
    if domain.name == "FGVCAircraft":
        return _read_aircraft(domain_root, domain)
    return None
