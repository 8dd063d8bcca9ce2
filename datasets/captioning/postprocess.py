"""Post-processing of a generated description into an FDRD caption (docs/captioning.md): noise
filters, repeated sentences, the subcategory name inserted as the released files do, the CLIP
token budget. Every repair and every rejection is named, so the builder can count and list it."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from datasets.fdrd.domains import normalize_class
from datasets.negatives import class_pattern
from datasets.text import CONTEXT_LENGTH, encode

BUDGET = CONTEXT_LENGTH - 2  # BPE tokens between start and end of text
SCHEMAS = ("photo", "a", "inline")  # "This is a photo of {name}.{text}" | "This is a {name}.{text}" | in the text
REFUSAL = re.compile(r"\b(i'?m sorry|i am sorry|i cannot|i can'?t (help|assist|describe)|as an ai\b|i am unable|"
                     r"i'?m unable|unable to (see|view|process) (the|this) image)", re.IGNORECASE)
SENTENCE = re.compile(r"[^.!?]+[.!?]*")
MIN_WORDS = 5


@dataclass
class Outcome:
    """A finished caption (None when rejected), the repairs made and, when rejected, why."""

    caption: str | None
    repairs: list[str] = field(default_factory=list)
    rejected: str = ""


def names_class(text: str, name: str) -> bool:
    """Whether ``text`` names the class ``name`` (whole words, any case, spaces or underscores)."""
    return bool(class_pattern(normalize_class(name)).search(text))


def sentences(text: str) -> list[str]:
    return [s.strip() for s in SENTENCE.findall(text) if s.strip()]


def noise(text: str) -> str:
    """Why ``text`` is no description at all ("" when it is one)."""
    letters = sum(ch.isalpha() for ch in text)
    if not text.strip() or letters < 0.6 * len(text.replace(" ", "")):
        return "non-text"
    if REFUSAL.search(text):
        return "refusal"
    if len(text.split()) < MIN_WORDS:
        return "too short"
    return ""


def drop_repeats(text: str) -> tuple[str, int]:
    """The text with every sentence that repeats an earlier one removed, and how many were."""
    seen, kept = set(), []
    for s in sentences(text):
        norm = " ".join(s.lower().split()).rstrip(".!?")
        if norm not in seen:
            seen.add(norm)
            kept.append(s)
    return " ".join(kept), len(sentences(text)) - len(kept)


def insert_name(text: str, name: str, schema: str, generic_nouns: tuple[str, ...] = ()) -> tuple[str, str]:
    """``text`` with the subcategory ``name``, as the released files write it, and the repair made:

    * ``photo``/``a``: "This is a photo of {name}." / "This is a {name}." before the text (no space
      after the period, as released);
    * ``inline``: the first generic noun (whole words only: "cat" is never found inside
      "scattered", the bug of the released Pets captions) replaced by the name, unless the text
      already names it; with no generic noun, the ``photo`` prefix.
    """
    if schema not in SCHEMAS:
        raise ValueError(f"--schema must be one of {SCHEMAS}, got {schema!r}")
    if schema == "inline":
        if names_class(text, name):
            return text, ""
        for noun in generic_nouns:
            m = re.search(r"(?<![A-Za-z0-9])" + re.escape(noun) + r"(?![A-Za-z0-9])", text, re.IGNORECASE)
            if m:
                return text[:m.start()] + name + text[m.end():], "name replaced a generic noun"
        schema = "photo"
        repair = "name prefixed (no generic noun to replace)"
    else:
        repair = ""
    prefix = f"This is a photo of {name}." if schema == "photo" else f"This is a {name}."
    return prefix + text, repair


def fit_budget(caption: str, keep: int, budget: int = BUDGET) -> str | None:
    """The longest run of whole sentences within ``budget`` tokens after the first ``keep``
    characters (the name prefix, kept as is); None when not even one sentence fits."""
    if len(encode(caption)) <= budget:
        return caption
    head = out = caption[:keep]
    for s in sentences(caption[keep:]):
        trial = out + s if out == head else f"{out} {s}"
        if len(encode(trial)) > budget:
            break
        out = trial
    return None if out == head else out


def finalise(text: str, name: str, schema: str, generic_nouns: tuple[str, ...] = (), budget: int = BUDGET) -> Outcome:
    """Noise filter, repeated sentences, the name, the budget: a caption or a named rejection."""
    text = " ".join(text.split())
    why = noise(text)
    if why:
        return Outcome(None, rejected=why)
    repairs = []
    text, repeats = drop_repeats(text)
    if repeats:
        repairs.append("repeated sentences removed")
    caption, repair = insert_name(text, name, schema, generic_nouns)
    if repair:
        repairs.append(repair)
    prefix_len = len(caption) - len(text) if caption.endswith(text) else 0
    fitted = fit_budget(caption, prefix_len, budget)
    if fitted is None or not names_class(fitted, name):
        return Outcome(None, repairs, f"over {budget} tokens with the sentence naming the subcategory")
    if fitted != caption:
        repairs.append("shortened to the token budget at a sentence boundary")
    return Outcome(fitted, repairs)
