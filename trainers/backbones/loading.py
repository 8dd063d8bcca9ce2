"""Finding CLIP weights by name or path, and building the ``clip`` package's model from them
(docs/backbones.md).

``MODEL.BACKBONE.NAME`` is one of the names of :mod:`trainers.backbones.names` (OpenAI's
``ViT-B/16``, open_clip's ``ViT-B-16:laion2b_s34b_b88k``, the bundled ``synth-small``),
``hf-hub:<repo>[@revision]``, or a local weight file or model folder. :func:`locate` finds the
file -- an explicit path; OpenAI's original file in the legacy cache (``MODEL.BACKBONE.CACHE_DIR``,
else ``$CLIP_CACHE_DIR``, else ``~/.cache/clip``); the Hugging Face cache at the pinned revision;
a download when ``MODEL.BACKBONE.DOWNLOAD`` is on and ``HF_HUB_OFFLINE`` is not set -- checks
its SHA-256 and settles the activation and the image normalisation. :func:`load` builds the
model in fp32 with the stored values; the precision policy casts it later.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from clip.model import CLIP

from . import convert, files, hub, names
from .small_clip import CHECKPOINT as SMALL_CLIP_FILE
from .small_clip import NAME as SMALL_CLIP

CACHE_ENV = "CLIP_CACHE_DIR"


class BackboneNotFoundError(FileNotFoundError):
    """The requested CLIP weights are not on disk and could not be downloaded."""


@dataclass(frozen=True)
class Backbone:
    """Where a run's CLIP weights come from and what they need (recorded with every run)."""

    name: str
    path: str  # the weight file
    folder: str  # the model folder whose config stated the activation, or ""
    source: str  # hub repo and revision, the legacy file, "bundled", or the path given
    sha256: str
    activation: str
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def record(self) -> dict[str, Any]:
        return {"name": self.name, "source": self.source, "file": self.path, "sha256": self.sha256,
                "activation": self.activation, "mean": list(self.mean), "std": list(self.std)}

    def summary(self) -> str:
        return (f"CLIP backbone {self.name}: {self.source}, sha256 {self.sha256[:16]}..., activation {self.activation}, "
                f"image mean {list(self.mean)} std {list(self.std)}")


def cache_dir(configured: str = "") -> str:
    return os.path.expanduser(configured or os.environ.get(CACHE_ENV, "") or "~/.cache/clip")


def _settle(stated: str, configured: str, where: str) -> str:
    """The activation: what the source states, else what the config says; a conflict or silence is refused."""
    if stated and configured and stated != configured:
        raise convert.BackboneFormatError(f"{where} states activation {stated}, but MODEL.BACKBONE.ACTIVATION is "
                                          f"{configured}: remove the setting (the source's statement is used)")
    if not (stated or configured):
        raise convert.BackboneFormatError(
            f"{where} does not state its MLP activation: set MODEL.BACKBONE.ACTIVATION quick_gelu (OpenAI's weights, "
            "LAION-400M, MetaCLIP, DFN) or gelu (LAION-2B, DataComp), or load the model folder with its config")
    return stated or configured


def _checked(path: str, want: str, what: str, fix: str) -> str:
    got = files.sha256(path)
    if want and got != want:
        raise convert.BackboneFormatError(
            f'"{path}" ({what}) has sha256 {got}, not the published {want}: the file is damaged or was replaced. '
            f"Fetch it again: {fix}. Weights of your own (a fine-tune) load by path: set MODEL.BACKBONE.NAME to the "
            "file or folder (MODEL.BACKBONE.SHA256 pins a run's file; it does not override a name's published hash)")
    return got


def _in_another_snapshot(f: hub.HubFile, sha256: str) -> str | None:
    """A cached copy of ``f`` under another snapshot whose bytes have the published hash (the same
    file, fetched at another revision or copied from another machine's cache)."""
    for path in hub.cached_copies(f):
        if files.sha256(path) == sha256:
            print(f"Note: {f.where()} is not in the cache at that revision; using the identical file (same sha256) "
                  f"at {path}")
            return path
    return None


def _from_folder(name: str, folder: str, source: str, activation: str) -> Backbone:
    config_name, stated = convert.folder_activation(folder)
    weights = convert.folder_weights(folder, config_name)
    act = _settle(stated, activation, f'"{os.path.join(folder, config_name)}"')
    mean, std = convert.folder_normalisation(folder, config_name, names.OPENAI_MEAN, names.OPENAI_STD)
    return Backbone(name, weights, folder, source, files.sha256(weights), act, mean, std)


def _from_file(name: str, path: str, activation: str) -> Backbone:
    act = _settle(files.stated_activation(path), activation, f'"{path}"')
    return Backbone(name, path, "", path, files.sha256(path), act, names.OPENAI_MEAN, names.OPENAI_STD)


def _from_hub_repo(name: str, repo: str, revision: str, activation: str, allow_download: bool) -> Backbone:
    """Any hub repository in open_clip or transformers format: its config first, then its weights."""
    tried = []
    for config_name in convert.CONFIG_FILES:
        path, why = hub.fetch(hub.HubFile(repo, config_name, revision), allow_download)
        if path is None:
            tried.append(f"{config_name} ({why})")
            continue
        folder = os.path.dirname(path)  # snapshots/<commit>
        for weights in convert.WEIGHT_FILES[config_name]:  # the first that exists (safetensors first)
            if hub.fetch(hub.HubFile(repo, weights, revision), allow_download)[0]:
                break
        if config_name in convert.NORMALISATION_FILES:
            hub.fetch(hub.HubFile(repo, convert.NORMALISATION_FILES[config_name], revision), allow_download)
        return _from_folder(name, folder, f"{names.HUB_PREFIX}{repo}@{os.path.basename(folder)}", activation)
    raise BackboneNotFoundError(
        f'CLIP weights "{name}" not found: looked in the Hugging Face cache {hub.cache_root()} for {repo}@{revision} '
        f"({'; '.join(tried)}). Fix: on a machine with internet run `hf download {repo}` (or python -m "
        f"trainers.backbones fetch {name}) and copy the cache here, or point HF_HUB_CACHE at a copy")


def _from_table(name: str, configured_cache_dir: str, activation: str, allow_download: bool) -> Backbone:
    """A named CLIP: OpenAI's original file in the legacy cache, else its hub file at the pinned revision."""
    row, old = names.PUBLISHED.get(names.canonical(name)), names.legacy(names.canonical(name))
    searched = []
    if old is not None:
        path = os.path.join(cache_dir(configured_cache_dir), old.file)
        if os.path.isfile(path):
            refetch = (f"delete it and run python -m trainers.backbones fetch {name} (its pinned hub copy; OpenAI's URL "
                       "is gone)" if row is not None else "copy OpenAI's original file again from a machine that has "
                       "it (its URL is gone and no hub copy of it is pinned)")
            sha = _checked(path, old.sha256, f"OpenAI's {old.file}", refetch)
            act = _settle(convert.QUICK_GELU, activation, f"OpenAI's {old.file}")
            return Backbone(name, path, "", f"legacy cache {path}", sha, act, names.OPENAI_MEAN, names.OPENAI_STD)
        searched.append(f"{path} (absent)")
    if row is None:
        raise BackboneNotFoundError(
            f'CLIP weights "{name}" not found: looked in {"; ".join(searched)}. The project knows no hub file for '
            f"{name}; put OpenAI's {old.file} there (MODEL.BACKBONE.CACHE_DIR or ${CACHE_ENV} names the folder), or "
            f"use an hf-hub:<repo> that holds it")
    f = hub.HubFile(row.repo, row.file, row.revision)
    path, why = hub.fetch(f, allow_download)
    if path is None and row.sha256:
        path = _in_another_snapshot(f, row.sha256)
    if path is None:
        searched.append(f"the Hugging Face cache {hub.cache_root()} for {f.where()} ({why})")
        raise BackboneNotFoundError(
            f'CLIP weights "{name}" not found: looked in {"; ".join(searched)}. Fix: on a machine that reaches the hub '
            f"run `{f.fix()}` (or python -m trainers.backbones fetch {name} there) and copy {hub.cache_root()} here (or "
            "point HF_HUB_CACHE at a copy)"
            + (f", or put OpenAI's {old.file} in {cache_dir(configured_cache_dir)}" if old else ""))
    sha = _checked(path, row.sha256, f"{name} from {f.where()}", f"{f.fix()} --force-download")
    act = _settle(row.activation, activation, f"the table row of {name}")
    return Backbone(name, path, "", f"{names.HUB_PREFIX}{row.repo}@{row.revision}/{row.file}", sha, act,
                    row.mean, row.std)


def locate(name: str, configured_cache_dir: str = "", allow_download: bool = True, activation: str = "",
           sha256: str = "") -> Backbone:
    """Find the weights ``name`` stands for (see the module docstring); ``sha256``, when given,
    pins the file; ``activation`` serves sources that state none."""
    if activation and activation not in convert.ACTIVATIONS:
        raise convert.BackboneFormatError(f'MODEL.BACKBONE.ACTIVATION "{activation}" is not one of '
                                          f'{", ".join(convert.ACTIVATIONS)} (or "" for the source\'s own)')
    path = os.path.expanduser(name)
    if name == SMALL_CLIP:
        if not os.path.isfile(SMALL_CLIP_FILE):
            raise BackboneNotFoundError(f"{SMALL_CLIP_FILE} is missing; rebuild it with python -m trainers.backbones.small_clip")
        found = Backbone(name, SMALL_CLIP_FILE, "", "bundled", files.sha256(SMALL_CLIP_FILE),
                         _settle(convert.QUICK_GELU, activation, SMALL_CLIP), names.OPENAI_MEAN, names.OPENAI_STD)
    elif name.startswith(names.HUB_PREFIX):
        repo, _, revision = name[len(names.HUB_PREFIX):].partition("@")
        rows = [n for n, r in names.PUBLISHED.items() if r.repo == repo and (not revision or revision == r.revision)]
        found = (_from_table(rows[0], configured_cache_dir, activation, allow_download) if rows
                 else _from_hub_repo(name, repo, revision or hub.MAIN, activation, allow_download))
    elif names.is_known(name):
        found = _from_table(name, configured_cache_dir, activation, allow_download)
    elif os.path.isdir(path):
        found = _from_folder(name, path, path, activation)
    elif os.path.isfile(path):
        found = _from_file(name, path, activation)
    else:
        raise BackboneNotFoundError(
            f'MODEL.BACKBONE.NAME "{name}" is neither a CLIP name ({", ".join(names.all_names())}), nor '
            f"{names.HUB_PREFIX}<repo>, nor an existing file or folder (python -m trainers.backbones list)")
    if sha256 and found.sha256 != sha256:
        raise convert.BackboneFormatError(
            f'"{found.path}" has sha256 {found.sha256}, but MODEL.BACKBONE.SHA256 pins {sha256}: these are other '
            'weights than the run was made with (set MODEL.BACKBONE.SHA256 "" to accept them as a new run)')
    return found


def load(b: Backbone) -> CLIP:
    """The ``CLIP`` for located weights, in fp32 with the stored values, eval mode; errors name the file."""
    state_dict = files.read_state_dict(b.path, names.legacy_hashes())
    try:
        if b.folder and convert.is_transformers_layout(state_dict):
            state_dict = convert.from_transformers(state_dict)
        model = convert.build_clip(state_dict, b.activation)
    except convert.BackboneFormatError as e:
        raise convert.BackboneFormatError(f'"{b.path}": {e}') from e
    print(f"Loaded {b.summary()}")
    return model


def load_clip(name: str, configured_cache_dir: str = "", allow_download: bool = True, activation: str = "") -> CLIP:
    """Build the CLIP model for ``name`` on CPU in fp32, eval mode; the caller moves and casts it."""
    return load(locate(name, configured_cache_dir, allow_download, activation))


def from_cfg(cfg: Any) -> Backbone:
    b = cfg.MODEL.BACKBONE
    return locate(b.NAME, b.CACHE_DIR, b.DOWNLOAD, b.ACTIVATION, b.SHA256)


def configure(cfg: Any) -> Backbone | None:
    """Locate the configured weights and write what a run must record into ``cfg`` (not frozen):
    ``MODEL.BACKBONE.SHA256``/``ACTIVATION``/``SOURCE``, and, with ``MODEL.BACKBONE.SET_PIXEL_NORM``,
    the weights' image normalisation as ``INPUT.PIXEL_MEAN``/``PIXEL_STD``. A config without a
    backbone name (a trainer that uses no CLIP) is left as it is."""
    if not cfg.MODEL.BACKBONE.NAME:
        return None
    found = from_cfg(cfg)
    cfg.MODEL.BACKBONE.SHA256, cfg.MODEL.BACKBONE.ACTIVATION = found.sha256, found.activation
    cfg.MODEL.BACKBONE.SOURCE = found.source
    if cfg.MODEL.BACKBONE.SET_PIXEL_NORM:
        cfg.INPUT.PIXEL_MEAN, cfg.INPUT.PIXEL_STD = list(found.mean), list(found.std)
    return found
