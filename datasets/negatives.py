"""Negative captions for category-aware augmentation (docs/method.md §4.1, "Negative Caption
Generator"), for any dataset: :func:`build_negatives` takes a caption, the released negatives,
the true class and the other classes of its domain, and returns :class:`Negatives`. A dataset
calls it when it loads its items, which carry the result as their ``negatives_*`` fields
(``evaluation.items.RetrievalItem``); DCAR trains on them and every method is measured on them.

Two kinds, made from an image's positive caption:

* **category swaps** -- every whole-word, case-insensitive occurrence of the true class name
  (underscores and spaces interchangeable) is replaced by another class of the same domain;
  never the true class, no class twice;
* **attribute swaps** -- one attribute word (colour, size, position, count, texture) is
  replaced by another word of the same kind; the class is kept.

Released negatives are kept unless identical to the positive, repeated, or still naming the
true class; generation tops them up to the configured number. Each item has its own RNG,
seeded from (seed, domain, key), so results do not depend on load order.
"""
from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass
from functools import lru_cache

COLOURS = ("red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "black", "white",
           "gray", "grey", "golden", "silver", "beige", "violet", "turquoise", "cream", "tan", "maroon")
SIZES = ("small", "large", "big", "tiny", "huge", "little", "tall", "short", "long", "giant")
COUNTS = ("one", "two", "three", "four", "five", "six", "seven", "eight", "several", "many")
TEXTURES = ("smooth", "rough", "fluffy", "shiny", "striped", "spotted", "furry", "soft", "wrinkled",
            "glossy", "fuzzy", "bumpy", "matte", "woven", "checkered", "dotted")
POSITION_OPPOSITES = {"left": "right", "top": "bottom", "above": "below", "foreground": "background",
                      "inside": "outside", "upper": "lower", "front": "back", "near": "far"}

ATTRIBUTE_KINDS: dict[str, tuple[str, ...]] = {"colour": COLOURS, "size": SIZES, "count": COUNTS, "texture": TEXTURES}
_POSITIONS = {**POSITION_OPPOSITES, **{v: k for k, v in POSITION_OPPOSITES.items()}}
_WORD_KIND = {w: kind for kind, words in ATTRIBUTE_KINDS.items() for w in words} | {w: "position" for w in _POSITIONS}
_ATTR_RE = re.compile(r"(?<![A-Za-z0-9])(" + "|".join(sorted(_WORD_KIND, key=len, reverse=True)) + r")(?![A-Za-z0-9])",
                      re.IGNORECASE)


@lru_cache(maxsize=None)
def class_pattern(normalized_name: str) -> re.Pattern:
    """Whole-word, case-insensitive matcher of a class name written with spaces or underscores."""
    words = normalized_name.split()
    body = r"[\s_]+".join(re.escape(w) for w in words)
    return re.compile(r"(?<![A-Za-z0-9])" + body + r"(?![A-Za-z0-9])", re.IGNORECASE)


def item_rng(seed: int, domain: str, key: str) -> random.Random:
    digest = hashlib.sha256(f"{seed}|{domain}|{key}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


@dataclass(frozen=True)
class ClassForm:
    """A class of the domain: its normalised name and the spelling written into swaps."""

    normalized: str
    written: str

    def written_like(self, matched: str) -> str:
        """Use underscores when the replaced occurrence had them, else spaces."""
        return self.written.replace(" ", "_") if "_" in matched else self.written.replace("_", " ")


def category_swaps(caption: str, true: ClassForm, others: list[ClassForm], k: int, rng: random.Random,
                   exclude: set[str]) -> list[str]:
    """Up to ``k`` captions with the true class name swapped for other classes of the domain."""
    pattern = class_pattern(true.normalized)
    if k <= 0 or not pattern.search(caption):
        return []
    out: list[str] = []
    for other in rng.sample(others, len(others)):
        if len(out) == k:
            break
        if other.normalized == true.normalized:
            continue
        swapped = pattern.sub(lambda m, other=other: other.written_like(m.group(0)), caption)
        if swapped in exclude or swapped == caption or pattern.search(swapped):
            continue
        out.append(swapped)
        exclude.add(swapped)
    return out


def _cased_like(word: str, original: str) -> str:
    if original.isupper() and len(original) > 1:
        return word.upper()
    return word.capitalize() if original[:1].isupper() else word


def attribute_swaps(caption: str, protected: list[tuple[int, int]], k: int, rng: random.Random,
                    exclude: set[str]) -> list[tuple[str, str]]:
    """Up to ``k`` (caption, kind) pairs, each caption with one attribute word changed to another
    of its kind."""
    spots = [m for m in _ATTR_RE.finditer(caption)
             if not any(s < m.end() and m.start() < e for s, e in protected)]
    choices = []
    for m in spots:
        word = m.group(0).lower()
        kind = _WORD_KIND[word]
        if kind == "position":
            choices.append((m, _POSITIONS[word]))
        else:
            choices.extend((m, w) for w in ATTRIBUTE_KINDS[kind] if w != word and {w, word} != {"gray", "grey"})
    rng.shuffle(choices)
    out: list[tuple[str, str]] = []
    for m, new in choices:
        if len(out) == k:
            break
        swapped = caption[: m.start()] + _cased_like(new, m.group(0)) + caption[m.end():]
        if swapped in exclude or swapped == caption:
            continue
        out.append((swapped, _WORD_KIND[m.group(0).lower()]))
        exclude.add(swapped)
    return out


@dataclass(frozen=True)
class Negatives:
    """One image's negatives, and what became of its released ones."""

    category: tuple[str, ...]
    attribute: tuple[str, ...]
    attribute_kinds: tuple[str, ...]  # the kind of word each attribute swap changed (colour, size, ...)
    class_found: bool
    released_dropped: int


def build_negatives(caption: str, released: tuple[str, ...], true: ClassForm, others: list[ClassForm],
                    num_category: int, num_attribute: int, rng: random.Random) -> Negatives:
    """Category negatives (released ones first, topped up to ``num_category``) and attribute negatives."""
    pattern = class_pattern(true.normalized)
    exclude = {caption}
    kept = []
    for neg in released:
        if neg in exclude or pattern.search(neg):
            continue
        kept.append(neg)
        exclude.add(neg)
    generated = category_swaps(caption, true, others, num_category - len(kept), rng, exclude)
    protected = [m.span() for m in pattern.finditer(caption)]
    attribute = attribute_swaps(caption, protected, num_attribute, rng, exclude)
    return Negatives(tuple(kept + generated), tuple(a for a, _ in attribute), tuple(k for _, k in attribute),
                     bool(protected), len(released) - len(kept))
