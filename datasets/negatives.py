"""Negative captions for category-aware augmentation (docs/method.md, "Negative captions", "Negative Caption
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

Attribute swaps come in two modes (``DATASET.FDRD.ATTRIBUTE_SWAPS``, docs/method.md, "Negative captions"):

* ``lexicon`` -- one word from a fixed English lexicon, the kind drawn in proportion to its
  number of alternatives, near-synonyms never swapped in (the first implementation, which swapped
  them in 0.8-1.3% of the time, until issue 42);
* ``domain`` -- the replacement words are mined from the domain's training captions
  (:class:`AttributeVocabulary`, extensible by config), the kind is drawn uniformly over the
  kinds the caption has, ``words`` words change, near-synonyms are never swapped in (they would
  describe the image truly), "background" is not a position, released negatives are capped at
  the configured number, and a caption without a swappable word gets a same-class sentence swap
  (a sentence replaced by one from another caption of its class; kind ``sentence``).
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
# Words that describe the same image: never a negative of each other.
SYNONYMS = (frozenset({"large", "big"}), frozenset({"small", "little"}), frozenset({"huge", "giant"}),
            frozenset({"spotted", "dotted"}), frozenset({"fluffy", "furry", "fuzzy"}), frozenset({"shiny", "glossy"}),
            frozenset({"golden", "yellow"}), frozenset({"violet", "purple"}), frozenset({"gray", "grey"}),
            frozenset({"cream", "beige"}))
NOT_A_POSITION = frozenset({"background", "foreground"})  # "on a white background" names the scene, not a place
_SYNONYM_GROUP = {w: g for g in SYNONYMS for w in g}
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
    of its kind that does not mean the same (:data:`SYNONYMS`: "large" never becomes "big")."""
    spots = [m for m in _ATTR_RE.finditer(caption)
             if not any(s < m.end() and m.start() < e for s, e in protected)]
    choices = []
    for m in spots:
        word = m.group(0).lower()
        kind = _WORD_KIND[word]
        if kind == "position":
            choices.append((m, _POSITIONS[word]))
        else:
            choices.extend((m, w) for w in ATTRIBUTE_KINDS[kind] if not same_meaning(w, word))
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


def same_meaning(a: str, b: str) -> bool:
    """Whether two attribute words describe the same thing (equal, or near-synonyms)."""
    a, b = a.lower(), b.lower()
    return a == b or b in _SYNONYM_GROUP.get(a, ())


def _word_pattern(words: list[str]) -> re.Pattern:
    return re.compile(r"(?<![A-Za-z0-9])(" + "|".join(sorted(map(re.escape, words), key=len, reverse=True))
                      + r")(?![A-Za-z0-9])", re.IGNORECASE)


@dataclass(frozen=True)
class AttributeVocabulary:
    """A domain's attribute words by kind: the lexicon's words (and ``extra`` ones) that its
    training captions use. Replacements come only from here, so a swap never introduces a word
    the domain's captions never say."""

    kinds: dict[str, str]  # word -> kind, for every word that can be found in a caption
    used: frozenset[str]  # the words the domain's captions use
    pattern: re.Pattern  # finds any word of ``kinds``

    @classmethod
    def mine(cls, captions: list[str], extra: tuple[str, ...] = ()) -> AttributeVocabulary:
        """``extra``: ``"kind:word"`` entries (``DATASET.FDRD.ATTRIBUTE_LEXICON_EXTRA``) adding words to a kind."""
        kinds = dict(_WORD_KIND)
        for entry in extra:
            kind, sep, word = entry.partition(":")
            if not sep or not word.strip() or kind not in (*ATTRIBUTE_KINDS, "position"):
                raise ValueError(f"DATASET.FDRD.ATTRIBUTE_LEXICON_EXTRA entry {entry!r}: write it as 'kind:word' with "
                                 f"kind one of {', '.join((*ATTRIBUTE_KINDS, 'position'))}")
            kinds[word.strip().lower()] = kind
        pattern = _word_pattern(list(kinds))
        used = frozenset(m.group(0).lower() for c in captions for m in pattern.finditer(c))
        return cls(kinds, used, pattern)

    def replacements(self, word: str) -> list[str]:
        """In-domain words of ``word``'s kind that describe something else (a position: its opposite)."""
        word = word.lower()
        kind = self.kinds[word]
        if kind == "position":
            other = _POSITIONS.get(word)
            ok = other is not None and other in self.used and word not in NOT_A_POSITION
            return [other] if ok else []
        return sorted(w for w in self.used if self.kinds[w] == kind and not same_meaning(word, w))


def domain_attribute_swaps(caption: str, protected: list[tuple[int, int]], k: int, rng: random.Random,
                           exclude: set[str], vocab: AttributeVocabulary, words: int = 1) -> list[tuple[str, str, str, str]]:
    """Up to ``k`` (caption, kind, old word, new word) with ``words`` attribute words changed: the
    kind of the first drawn uniformly over the kinds the caption has, then a word of that kind, then
    its replacement; further words likewise among the remaining ones."""
    spots = [m for m in vocab.pattern.finditer(caption)
             if not any(s < m.end() and m.start() < e for s, e in protected) and vocab.replacements(m.group(0))]
    out: list[tuple[str, str, str, str]] = []
    if len(spots) < words:
        return out
    for _ in range(8 * k):
        if len(out) == k:
            break
        left, chosen = list(spots), []
        for _ in range(words):
            kind = rng.choice(sorted({vocab.kinds[m.group(0).lower()] for m in left}))
            spot = rng.choice([m for m in left if vocab.kinds[m.group(0).lower()] == kind])
            left.remove(spot)
            chosen.append((spot, rng.choice(vocab.replacements(spot.group(0)))))
        swapped = caption
        for spot, new in sorted(chosen, key=lambda c: -c[0].start()):
            swapped = swapped[: spot.start()] + _cased_like(new, spot.group(0)) + swapped[spot.end():]
        if swapped in exclude:
            continue
        exclude.add(swapped)
        first, new = chosen[0]
        kinds = sorted({vocab.kinds[c[0].group(0).lower()] for c in chosen})
        out.append((swapped, "+".join(kinds), first.group(0).lower(), new))
    return out


_SENTENCE_BREAK = re.compile(r"(?<=[.!?])(\s*)(?=[A-Z])")


@lru_cache(maxsize=256)
def _class_sentences(same_class: tuple[str, ...], class_re: re.Pattern) -> tuple[str, ...]:
    """The sorted distinct sentences of a class's captions that do not name the class (split once
    per class, not once per item)."""
    return tuple(sorted({s for c in same_class for s in _SENTENCE_BREAK.split(c)[::2]
                         if s.strip() and not class_re.search(s)}))


def sentence_swaps(caption: str, class_re: re.Pattern, same_class: tuple[str, ...], k: int, rng: random.Random,
                   exclude: set[str]) -> list[str]:
    """Up to ``k`` captions with one sentence that does not name the class replaced by a different
    sentence (not naming it either) from another caption of the same class."""
    parts = _SENTENCE_BREAK.split(caption)  # sentence, separator, sentence, ...
    mine = [i for i in range(0, len(parts), 2) if not class_re.search(parts[i])]
    own = set(parts[::2])
    donors = [s for s in _class_sentences(same_class, class_re) if s not in own]
    out: list[str] = []
    for _ in range(8 * k):
        if len(out) == k or not mine or not donors:
            break
        i = rng.choice(mine)
        swapped = "".join(parts[:i] + [rng.choice(donors)] + parts[i + 1:])
        if swapped not in exclude:
            out.append(swapped)
            exclude.add(swapped)
    return out


@dataclass(frozen=True)
class AttributeMode:
    """How attribute negatives are made (``lexicon``: the first implementation; ``domain``: see the module)."""

    vocab: AttributeVocabulary | None = None  # None: lexicon mode
    words: int = 1
    same_class: tuple[str, ...] = ()  # the training captions of the item's class (the sentence fallback)


@dataclass(frozen=True)
class Negatives:
    """One image's negatives, and what became of its released ones."""

    category: tuple[str, ...]
    attribute: tuple[str, ...]
    attribute_kinds: tuple[str, ...]  # the kind of word each attribute swap changed (colour, size, ..., sentence)
    class_found: bool
    released_dropped: int
    attribute_edits: tuple[tuple[str, str], ...] = ()  # (old word, new word) of each attribute swap; "" for a sentence


def build_negatives(caption: str, released: tuple[str, ...], true: ClassForm, others: list[ClassForm],
                    num_category: int, num_attribute: int, rng: random.Random,
                    mode: AttributeMode = AttributeMode()) -> Negatives:
    """Category negatives (released ones first, topped up to ``num_category``; in ``domain`` mode
    also capped there) and attribute negatives."""
    pattern = class_pattern(true.normalized)
    exclude = {caption}
    kept = []
    for neg in released:
        if neg in exclude or pattern.search(neg):
            continue
        kept.append(neg)
        exclude.add(neg)
    dropped = len(released) - len(kept)
    if mode.vocab is not None:
        kept = kept[:num_category]
    generated = category_swaps(caption, true, others, num_category - len(kept), rng, exclude)
    protected = [m.span() for m in pattern.finditer(caption)]
    if mode.vocab is None:
        attribute = [(c, kind, "", "") for c, kind in attribute_swaps(caption, protected, num_attribute, rng, exclude)]
        edits = tuple(_edit(caption, c) for c, _, _, _ in attribute)
    else:
        attribute = domain_attribute_swaps(caption, protected, num_attribute, rng, exclude, mode.vocab, mode.words)
        fallback = sentence_swaps(caption, pattern, mode.same_class, num_attribute - len(attribute), rng, exclude)
        attribute += [(c, "sentence", "", "") for c in fallback]
        edits = tuple((old, new) for _, _, old, new in attribute)
    return Negatives(tuple(kept + generated), tuple(a[0] for a in attribute), tuple(a[1] for a in attribute),
                     bool(protected), dropped, edits)


def _edit(caption: str, swapped: str) -> tuple[str, str]:
    """The (old, new) attribute word of a one-word swap, lower-cased."""
    for x, y in zip(_ATTR_RE.finditer(caption), _ATTR_RE.finditer(swapped)):
        if x.group(0).lower() != y.group(0).lower():
            return x.group(0).lower(), y.group(0).lower()
    return "", ""
