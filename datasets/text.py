"""Caption tokenisation for CLIP's text encoder (BPE from the ``clip`` package).

Captions longer than the budget are truncated from the right while keeping the end-of-text
token (the text encoder pools there); the number truncated is returned so callers log it.
"""
from __future__ import annotations

import functools
import warnings
from typing import Sequence

import torch

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from clip.simple_tokenizer import SimpleTokenizer

CONTEXT_LENGTH = 77
_TOKENIZER: SimpleTokenizer | None = None


def tokenizer() -> SimpleTokenizer:
    global _TOKENIZER
    if _TOKENIZER is None:
        _TOKENIZER = SimpleTokenizer()
    return _TOKENIZER


def sot_eot() -> tuple[int, int]:
    enc = tokenizer().encoder
    return enc["<|startoftext|>"], enc["<|endoftext|>"]


def encode(caption: str) -> list[int]:
    """BPE ids of a caption, without start/end tokens (memoised: a caption is tokenised once per
    process although loading, training and evaluation each ask for it)."""
    return list(_encode(caption))


@functools.lru_cache(maxsize=1 << 18)
def _encode(caption: str) -> tuple[int, ...]:
    return tuple(tokenizer().encode(caption))


def tokenize(captions: Sequence[str], context_length: int = CONTEXT_LENGTH, reserved: int = 0) -> tuple[torch.Tensor, int]:
    """``[SOT] tokens [EOT] 0...`` rows of width ``context_length``.

    ``reserved`` positions (e.g. learned prompt tokens inserted later) are taken off the caption
    budget. Returns the ids and how many captions were truncated.
    """
    sot, eot = sot_eot()
    budget = context_length - 2 - reserved
    if budget < 1:
        raise ValueError(f"context_length {context_length} leaves no room for text after {reserved} reserved tokens")
    out = torch.zeros(len(captions), context_length, dtype=torch.long)
    truncated = 0
    for i, caption in enumerate(captions):
        ids = encode(caption)
        if len(ids) > budget:
            ids = ids[:budget]
            truncated += 1
        row = [sot, *ids, eot]
        out[i, : len(row)] = torch.tensor(row)
    return out, truncated


def words(caption: str) -> list[tuple[str, int]]:
    """The tokenizer's words of a caption with their number of BPE pieces (the same segmentation
    as :func:`encode`, so the pieces add up to ``len(encode(caption))``)."""
    import regex
    from clip.simple_tokenizer import basic_clean, whitespace_clean

    tok = tokenizer()
    text = whitespace_clean(basic_clean(caption)).lower()
    out = []
    for word in regex.findall(tok.pat, text):
        pieces = tok.bpe("".join(tok.byte_encoder[b] for b in word.encode("utf-8"))).split(" ")
        out.append((word, len(pieces)))
    return out
