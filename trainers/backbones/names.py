"""The CLIP names a user can type, and where their weights are published (docs/backbones.md).

One row per name: the Hugging Face hub repository and file, the revision it is pinned to, the
file's SHA-256 where it is known, the MLP activation the weights were trained with and the image
normalisation. OpenAI's names (``ViT-B/16``) also name their original release file, which users
who downloaded it before its URL died keep in ``~/.cache/clip``; that URL is never fetched.

An empty ``revision`` or ``sha256`` means the value could not be read off the hub when the row was
written (the project was built offline): the file then comes from the repository's ``main`` and
its hash is only recorded, not checked. ``python -m trainers.backbones list`` prints the table.
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

    @property
    def pinned(self) -> bool:
        return bool(self.revision)


def _openai(repo: str, revision: str, sha256: str = "") -> Published:
    return Published(repo, "open_clip_model.safetensors", revision, sha256, QUICK_GELU)


def _laion(repo: str, revision: str, file: str, sha256: str = "") -> Published:
    return Published(repo, file, revision, sha256, GELU)


# Revisions and hashes as published on the hub (see the module docstring for empty fields).
PUBLISHED: dict[str, Published] = {
    "ViT-B/32": _openai("timm/vit_base_patch32_clip_224.openai", "a6f597a30f7b82c51704746581f9a4e41421e878",
                        "e6d1bd7789aa45192b3bf90570a789b478bae1b74ebcce7eddd908e83a2b7c31"),
    "ViT-B/16": _openai("timm/vit_base_patch16_clip_224.openai", "977e3dd0ec55ab8da155f2fbeb6b5f54948b6e3d",
                        "4b8699299b1e8997753c64b052ba32031449d5d853f55a039148560ee02b820f"),
    "ViT-L/14": _openai("timm/vit_large_patch14_clip_224.openai", "18d0535469bb561bf468d76c1d73aa35156c922b"),
    "ViT-B-32:laion2b_s34b_b79k": _laion("laion/CLIP-ViT-B-32-laion2B-s34B-b79K",
                                         "1a25a446712ba5ee05982a381eed697ef9b435cf", "open_clip_model.safetensors",
                                         "ac4f8c4b88af6d963118cbf40ad93176d092abbedfcb752601ae1866352656e6"),
    "ViT-B-32:datacomp_xl_s13b_b90k": _laion("laion/CLIP-ViT-B-32-DataComp.XL-s13B-b90K", "",
                                             "open_clip_pytorch_model.bin"),
    "ViT-B-16:laion2b_s34b_b88k": _laion("laion/CLIP-ViT-B-16-laion2B-s34B-b88K",
                                         "7288da5a0d6f0b51c4a2b27c624837a9236d0112", "open_clip_pytorch_model.bin"),
    "ViT-B-16:datacomp_xl_s13b_b90k": _laion("laion/CLIP-ViT-B-16-DataComp.XL-s13B-b90K",
                                             "d110532e8d4ff91c574ee60a342323f28468b287", "open_clip_pytorch_model.bin"),
}
# open_clip's spelling of OpenAI's weights names the same rows.
ALIASES = {"ViT-B-32:openai": "ViT-B/32", "ViT-B-16:openai": "ViT-B/16", "ViT-L-14:openai": "ViT-L/14"}


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
        rev = row.revision[:12] if row.pinned else "main (not pinned)"
        sha = row.sha256[:12] if row.sha256 else "not known"
        lines.append(f"{name:32s} {row.repo} @ {rev}, {row.file}, sha256 {sha}, {row.activation}")
    lines += [f"{alias:32s} = {name}" for alias, name in ALIASES.items()]
    lines += [f"{name:32s} only from its original file {legacy(name).file} in the legacy cache (quick_gelu)"
              for name in legacy_only()]
    lines.append(f"{HUB_PREFIX + '<repo>[@revision]':32s} any hub repository in open_clip or transformers format")
    lines.append(f"{'<file or folder>':32s} a local weight file or model folder (docs/backbones.md)")
    return lines
