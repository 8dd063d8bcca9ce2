"""Token-wise late interaction (FILIP, Yao et al., ICLR 2022): how an image and a caption are scored
from their token features instead of one pooled feature each (docs/method.md, "FILIP").

Image-to-text: each patch token finds its most similar word token of the caption, and the image's
score is the mean of those maxima over its patches. Text-to-image: each word token finds its most
similar patch, averaged over the caption's words. The two scores of a pair differ in general. The
image's class token and the caption's start, end and padding tokens take no part: a caption's
words are the positions strictly between its start token and its end-of-text token.
"""
from __future__ import annotations

import torch


def word_mask(eot: torch.Tensor, length: int) -> torch.Tensor:
    """[M, length] True at each caption's word positions: after the start token (position 0),
    before its end-of-text token at ``eot`` (padding follows it)."""
    positions = torch.arange(length, device=eot.device)
    return (positions[None] >= 1) & (positions[None] < eot[:, None])


def token_scores(image_tokens: torch.Tensor, text_tokens: torch.Tensor, text_mask: torch.Tensor,
                 chunk: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """The image-to-text and text-to-image scores [N, M] of N images and M captions.

    ``image_tokens`` [N, P, D]: the patch tokens (no class token); ``text_tokens`` [M, T, D] with
    ``text_mask`` [M, T] (:func:`word_mask`). Tokens are L2-normalised here; pairs are scored in
    blocks of ``chunk`` images x ``chunk`` captions, so memory grows with chunk^2 * P * T only.
    """
    if not bool(text_mask.any(1).all()):
        empty = (~text_mask.any(1)).nonzero().flatten().tolist()
        raise ValueError(f"captions {empty[:5]} have no word token: a caption needs at least one word to be scored")
    img = torch.nn.functional.normalize(image_tokens.float(), dim=-1)
    txt = torch.nn.functional.normalize(text_tokens.float(), dim=-1)
    mask = text_mask.to(txt.device)
    words = mask.sum(1).float()
    i2t = torch.empty(len(img), len(txt), device=img.device)
    t2i = torch.empty_like(i2t)
    for i0 in range(0, len(img), chunk):
        x = img[i0:i0 + chunk]
        for j0 in range(0, len(txt), chunk):
            y, m = txt[j0:j0 + chunk], mask[j0:j0 + chunk]
            sim = torch.einsum("npd,mtd->nmpt", x, y)  # every patch against every token of every caption
            i2t[i0:i0 + chunk, j0:j0 + chunk] = sim.masked_fill(~m[None, :, None, :], float("-inf")).amax(3).mean(2)
            best_patch = sim.amax(2)  # [n, m, T]: each token's most similar patch
            t2i[i0:i0 + chunk, j0:j0 + chunk] = (best_patch * m[None]).sum(2) / words[j0:j0 + chunk][None]
    return i2t, t2i


def pad(captions: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Captions given as their word tokens ([n_i, D] each) as one padded batch [M, T, D] and its
    word mask [M, T], for :func:`token_scores`."""
    longest = max(len(c) for c in captions)
    features = captions[0].new_zeros(len(captions), longest, captions[0].shape[-1])
    mask = torch.zeros(len(captions), longest, dtype=torch.bool, device=captions[0].device)
    for i, c in enumerate(captions):
        features[i, :len(c)], mask[i, :len(c)] = c, True
    return features, mask


def pair_scores(image_tokens: torch.Tensor, captions: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """One image's patch tokens [P, D] against a few captions (word tokens each): the image-to-text
    and text-to-image scores [k] of each pair."""
    i2t, t2i = token_scores(image_tokens[None], *pad([c.to(image_tokens.device) for c in captions]))
    return i2t[0], t2i[0]
