"""The CLIP names a user can type, and where their weights are published (docs/backbones.md).

One row per name: the Hugging Face hub repository and file, the revision it is pinned to, the
file's SHA-256 where it is known, the MLP activation the weights were trained with and the image
normalisation. OpenAI's names (``ViT-B/16``) also name their original release file, which users
who downloaded it before its URL died keep in ``~/.cache/clip``; that URL is never fetched.

Every row is pinned to a revision. An empty ``sha256`` means no public record of the file's hash
was found (the project is built offline): its hash is then recorded with each run, not checked.
OpenAI names without a row (no public record of a pinned revision was found) load only from their
original file. ``python -m trainers.backbones list`` prints the table.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

from .convert import GELU, QUICK_GELU
from .small_clip import CHECKPOINT as SMALL_CLIP_FILE
from .small_clip import NAME as SMALL_CLIP

with warnings.catch_warnings():  # clip imports pkg_resources, which warns on import
    warnings.simplefilter("ignore")
    from clip.clip import _MODELS as OPENAI_RELEASES

OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)
HUB_PREFIX = "hf-hub:"


@dataclass(frozen=True)
class Published:
    """Where one named CLIP's weights are published and what they need."""

    repo: str
    file: str
    revision: str
    sha256: str
    activation: str
    mean: tuple[float, float, float] = OPENAI_MEAN
    std: tuple[float, float, float] = OPENAI_STD


def _openai(repo: str, revision: str, sha256: str = "", file: str = "open_clip_model.safetensors") -> Published:
    return Published(repo, file, revision, sha256, QUICK_GELU)


def _laion(repo: str, revision: str, file: str, sha256: str = "") -> Published:
    return Published(repo, file, revision, sha256, GELU)


# Revisions and hashes as published on the hub. Every revision and hash below was read off public
# pins of other projects (code search, checked 2026-12-07), never guessed; the comment of each row
# names how many independent records agree. A row without a hash: no public record gave one (the
# file's hash is then recorded with each run, not checked; `list` says so).
PUBLISHED: dict[str, Published] = {
    # revision and sha256: several independent public pins; the project's earlier conversion checks used them
    "ViT-B/32": _openai("timm/vit_base_patch32_clip_224.openai", "a6f597a30f7b82c51704746581f9a4e41421e878",
                        "e6d1bd7789aa45192b3bf90570a789b478bae1b74ebcce7eddd908e83a2b7c31"),
    "ViT-B/16": _openai("timm/vit_base_patch16_clip_224.openai", "977e3dd0ec55ab8da155f2fbeb6b5f54948b6e3d",
                        "4b8699299b1e8997753c64b052ba32031449d5d853f55a039148560ee02b820f"),
    # sha256: three independent public records of open_clip_model.safetensors at this revision
    "ViT-L/14": _openai("timm/vit_large_patch14_clip_224.openai", "18d0535469bb561bf468d76c1d73aa35156c922b",
                        "9ce2e8a8ebfff3793d7d375ad6d3c35cb9aebf3de7ace0fc7308accab7cd207e"),
    # revision: one public cache path (open_clip_pytorch_model.bin); no hash published; the pickle loads
    # with weights_only=True. OpenAI's weights: QuickGELU, whatever the repo's config says
    "ViT-L/14@336px": _openai("timm/vit_large_patch14_clip_336.openai", "81e38efc4637de5023b10e75a7f9bd1c6fa6b010",
                              file="open_clip_pytorch_model.bin"),
    # revision and sha256 of open_clip_model.safetensors: two independent public pins. OpenAI's RN50:
    # QuickGELU from this table, not from the repo's config (which stated it only at a later revision)
    "RN50": _openai("timm/resnet50_clip.openai", "ec3d92cf63a5f9d591f0d611b736895966c73076",
                    "da0baa37fb2211eee5729ab69ed587eb10d48f5b7076ceeed01552fc3d4cb4ee"),
    "ViT-B-32:laion2b_s34b_b79k": _laion("laion/CLIP-ViT-B-32-laion2B-s34B-b79K",
                                         "1a25a446712ba5ee05982a381eed697ef9b435cf", "open_clip_model.safetensors",
                                         "ac4f8c4b88af6d963118cbf40ad93176d092abbedfcb752601ae1866352656e6"),
    # revision: several public pins; sha256 of open_clip_model.safetensors: two independent pins
    "ViT-B-32:datacomp_xl_s13b_b90k": _laion("laion/CLIP-ViT-B-32-DataComp.XL-s13B-b90K",
                                             "f0e2ffa09cbadab3db6a261ec1ec56407ce42912", "open_clip_model.safetensors",
                                             "3c00043509d2e3f35ec62bd85a643a393883dcda624d8208d034cc390c708297"),
    # the revision holds open_clip_model.safetensors (several public pins name it); no hash published
    "ViT-B-16:laion2b_s34b_b88k": _laion("laion/CLIP-ViT-B-16-laion2B-s34B-b88K",
                                         "7288da5a0d6f0b51c4a2b27c624837a9236d0112", "open_clip_model.safetensors"),
    # this revision (the repo's main) has only the pickle .bin (a public pin says so); no hash published
    "ViT-B-16:datacomp_xl_s13b_b90k": _laion("laion/CLIP-ViT-B-16-DataComp.XL-s13B-b90K",
                                             "d110532e8d4ff91c574ee60a342323f28468b287", "open_clip_pytorch_model.bin"),
}
# open_clip's spelling of OpenAI's weights names the same rows.
ALIASES = {"ViT-B-32:openai": "ViT-B/32", "ViT-B-16:openai": "ViT-B/16", "ViT-L-14:openai": "ViT-L/14",
           "ViT-L-14-336:openai": "ViT-L/14@336px", "RN50:openai": "RN50"}


@dataclass(frozen=True)
class Legacy:
    """OpenAI's original release file of a name (TorchScript, QuickGELU), as the ``clip`` package named it."""

    file: str
    sha256: str


def legacy(name: str) -> Legacy | None:
    """The original release of an OpenAI name (the SHA-256 is part of its old URL)."""
    url = OPENAI_RELEASES.get(name)
    return None if url is None else Legacy(os.path.basename(url), url.split("/")[-2])


def canonical(name: str) -> str:
    return ALIASES.get(name, name)


def is_known(name: str) -> bool:
    """A name of the table, an OpenAI name (legacy file only, for those without a hub row) or synth-small."""
    name = canonical(name)
    return name in PUBLISHED or name in OPENAI_RELEASES or name == SMALL_CLIP


def legacy_hashes() -> frozenset[str]:
    """The SHA-256 of every OpenAI original release: the only TorchScript archives ever loaded."""
    return frozenset(legacy(n).sha256 for n in OPENAI_RELEASES)


def legacy_only() -> list[str]:
    """OpenAI names without a hub row: served only by their original file."""
    return [n for n in OPENAI_RELEASES if n not in PUBLISHED]


def all_names() -> list[str]:
    return [SMALL_CLIP, *PUBLISHED, *ALIASES, *legacy_only()]


def describe() -> list[str]:
    """One line per name, for ``python -m trainers.backbones list``."""
    lines = [f"{SMALL_CLIP:32s} bundled: {os.path.relpath(SMALL_CLIP_FILE)} (quick_gelu; the project's own)"]
    for name, row in PUBLISHED.items():
        sha = row.sha256[:12] if row.sha256 else "not published (recorded per run, not checked)"
        lines.append(f"{name:32s} {row.repo} @ {row.revision[:12]}, {row.file}, sha256 {sha}, {row.activation}")
    lines += [f"{alias:32s} = {name}" for alias, name in ALIASES.items()]
    lines += [f"{name:32s} only from its original file {legacy(name).file} in the legacy cache (quick_gelu; no "
              "public record of a pinned hub revision was found)" for name in legacy_only()]
    lines.append(f"{HUB_PREFIX + '<repo>[@revision]':32s} any hub repository in open_clip or transformers format")
    lines.append(f"{'<file or folder>':32s} a local weight file or model folder (docs/backbones.md)")
    return lines
