"""Reading FDRD caption files: the three released schemas, with errors that name the file,
the entry and the fix (docs/fdrd.md, "The three schemas")."""
from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field

from .domains import DOMAINS, Domain, domain_for_file


class FDRDFormatError(ValueError):
    """A caption file that cannot be used as it is."""


@dataclass(frozen=True)
class Entry:
    """One caption-file entry, schema-independent."""

    key: str
    fields: dict
    positive: str
    negatives: tuple[str, ...]


@dataclass
class CaptionFile:
    path: str
    entries: list[Entry]
    duplicate_keys: list[str] = field(default_factory=list)
    bad_entries: list[str] = field(default_factory=list)

    @property
    def duplicate_captions(self) -> int:
        """Entries whose positive caption string also belongs to an earlier entry."""
        counts = Counter(e.positive for e in self.entries)
        return sum(n - 1 for n in counts.values() if n > 1)


def _parse_json(path: str) -> tuple[dict, list[str]]:
    calls: list[list[str]] = []

    def pairs_hook(pairs: list) -> dict:
        seen, dups = set(), []
        for k, _ in pairs:
            if k in seen:
                dups.append(k)
            seen.add(k)
        calls.append(dups)
        return dict(pairs)  # the last occurrence wins, as with any JSON parser

    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f, object_pairs_hook=pairs_hook)
    except json.JSONDecodeError as e:
        raise FDRDFormatError(
            f"{path}: invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}. "
            "Re-download the file or fix it at that position."
        ) from None
    except UnicodeDecodeError as e:
        raise FDRDFormatError(f"{path}: not UTF-8 text ({e}). Re-download the file.") from None
    if not isinstance(data, dict):
        raise FDRDFormatError(
            f"{path}: expected a JSON object mapping ids to entries, got a {type(data).__name__}."
        )
    return data, calls[-1] if calls else []


def _entry(path: str, key: str, value: object) -> Entry:
    def bad(what: str) -> FDRDFormatError:
        return FDRDFormatError(f'{path}: entry "{key}" {what}. Fix or remove that entry.')

    if not isinstance(value, dict):
        raise bad(f"is a {type(value).__name__}, expected an object with a \"positive\" caption")
    positive = value.get("positive")
    if positive is None:
        raise bad('has no "positive" field (every entry needs its caption string)')
    if not isinstance(positive, str) or not positive.strip():
        raise bad('has a "positive" field that is not a non-empty string')
    negatives = value.get("negative", [])
    if negatives is None:
        negatives = []
    if not isinstance(negatives, list) or not all(isinstance(n, str) for n in negatives):
        raise bad('has a "negative" field that is not a list of strings')
    for name in ("file_name", "class_name"):
        if name in value and not isinstance(value[name], str):
            raise bad(f'has a "{name}" field that is not a string')
    return Entry(key, value, positive, tuple(negatives))


def read_caption_file(path: str, skip_bad_entries: bool = False) -> CaptionFile:
    """Parse and validate one caption file (any of the three schemas)."""
    data, duplicate_keys = _parse_json(path)
    entries, bad = [], []
    for key, value in data.items():
        try:
            entries.append(_entry(path, key, value))
        except FDRDFormatError as e:
            if not skip_bad_entries:
                raise
            bad.append(str(e))  # names the file and the entry
    if not entries:
        raise FDRDFormatError(f"{path}: no usable entries.")
    return CaptionFile(path, entries, duplicate_keys, bad)


def find_caption_files(caption_dir: str) -> dict[tuple[str, str], str]:
    """Map (domain name, split) to the released caption file found in ``caption_dir``
    (directly or in its ``train/``/``test/`` subfolders)."""
    found: dict[tuple[str, str], str] = {}
    for sub in ("", "train", "test"):
        folder = os.path.join(caption_dir, sub)
        if not os.path.isdir(folder):
            continue
        for fname in sorted(os.listdir(folder)):
            hit = domain_for_file(fname)
            if hit is not None:
                found.setdefault((hit[0].name, hit[1]), os.path.join(folder, fname))
    return found


def expected_files(domain: Domain) -> str:
    """The file names a domain's captions may have, for error messages."""
    if domain not in DOMAINS:
        return "the files named in the config"
    names = [f"{p}{t}_{{train,test}}.json" for t in domain.tokens for p in ("", "inter_")]
    return " or ".join(names)
