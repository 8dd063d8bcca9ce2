"""CLIP backbone loading with the ``clip`` package (PyPI ``clip-anytorch``; docs/method.md §2.1).

``MODEL.BACKBONE.NAME`` is an OpenAI model name (``ViT-B/32``, ``ViT-B/16``, ``RN50`` ...),
the project's small pretrained ``synth-small`` (:mod:`trainers.small_clip`),
resolved to the standard cache file (``~/.cache/clip/ViT-B-32.pt``; the folder is
``MODEL.BACKBONE.CACHE_DIR``, else ``$CLIP_CACHE_DIR``, else ``~/.cache/clip``), or a path to a
checkpoint file. TorchScript archives (OpenAI's releases) and plain state dicts (optionally
under a ``state_dict`` key) both load. A missing named model is downloaded once with a
timeout when ``MODEL.BACKBONE.DOWNLOAD`` is on; offline, the error names the expected path and
the URL and says how to place the file.
"""
from __future__ import annotations

import hashlib
import os
import socket
import urllib.error
import urllib.request
import warnings
import zipfile
from typing import Any

import torch

with warnings.catch_warnings():  # clip imports pkg_resources, which warns on import
    warnings.simplefilter("ignore")
    import clip
    from clip.model import CLIP

from . import small_clip  # noqa: E402
from .backbones import convert  # noqa: E402

CACHE_ENV = "CLIP_CACHE_DIR"
DOWNLOAD_TIMEOUT_S = 20.0


class BackboneNotFoundError(FileNotFoundError):
    """The requested CLIP weights are not on disk and could not be downloaded."""


def extend_cfg(cfg: Any) -> None:
    cfg.MODEL.BACKBONE.CACHE_DIR = ""
    cfg.MODEL.BACKBONE.DOWNLOAD = True


def cache_dir(configured: str = "") -> str:
    return os.path.expanduser(configured or os.environ.get(CACHE_ENV, "") or "~/.cache/clip")


def resolve_backbone(name: str, configured_cache_dir: str = "") -> tuple[str, str | None]:
    """Return (file path, download URL or None) for a model name or checkpoint path."""
    if name == small_clip.NAME:
        if not os.path.isfile(small_clip.CHECKPOINT):
            raise BackboneNotFoundError(f"{small_clip.CHECKPOINT} is missing; rebuild it with python -m trainers.small_clip")
        return small_clip.CHECKPOINT, None
    if name in clip.available_models():
        url = clip.clip._MODELS[name]
        return os.path.join(cache_dir(configured_cache_dir), os.path.basename(url)), url
    if os.path.isfile(os.path.expanduser(name)) or os.path.isdir(os.path.expanduser(name)):
        return os.path.expanduser(name), None
    raise BackboneNotFoundError(
        f'MODEL.BACKBONE.NAME "{name}" is neither a CLIP model name '
        f"({', '.join(clip.available_models())}, {small_clip.NAME}) nor an existing checkpoint file."
    )


def _missing_message(path: str, url: str, reason: str) -> str:
    return (
        f"CLIP weights not found at {path} ({reason}).\n"
        f"Download them from {url} on a machine with internet access and place the file there, e.g.\n"
        f"    mkdir -p {os.path.dirname(path)} && curl -L -o {path} {url}\n"
        f"or point MODEL.BACKBONE.CACHE_DIR (or ${CACHE_ENV}) at the folder holding {os.path.basename(path)}, "
        "or set MODEL.BACKBONE.NAME to the checkpoint's path."
    )


def download(url: str, path: str, timeout: float = DOWNLOAD_TIMEOUT_S) -> None:
    """Fetch ``url`` to ``path`` atomically and check the SHA256 embedded in OpenAI's URL."""
    expected = url.split("/")[-2]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.part-{os.getpid()}"
    sha = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as src, open(tmp, "wb") as dst:
            while chunk := src.read(1 << 20):
                sha.update(chunk)
                dst.write(chunk)
        if sha.hexdigest() == expected:
            os.replace(tmp, path)
    except (urllib.error.URLError, socket.timeout, OSError) as e:
        raise BackboneNotFoundError(_missing_message(path, url, f"download failed: {e}")) from e
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    if not os.path.isfile(path):
        raise BackboneNotFoundError(_missing_message(path, url, "downloaded file failed its SHA256 check"))


def _is_torchscript(path: str) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as zf:
        return any(n.endswith("/constants.pkl") or "/code/" in n for n in zf.namelist())


def _is_safetensors(path: str) -> bool:
    """A safetensors file starts with its header's length (8 bytes, little endian) and a JSON object."""
    with open(path, "rb") as f:
        head = f.read(9)
    return len(head) == 9 and head[8:] == b"{" and int.from_bytes(head[:8], "little") < os.path.getsize(path)


def read_state_dict(path: str) -> dict[str, torch.Tensor]:
    """The CLIP state dict stored in a TorchScript archive, a safetensors file or a ``torch.save`` file."""
    if _is_safetensors(path):
        from safetensors.torch import load_file

        return load_file(path)
    if _is_torchscript(path):
        with warnings.catch_warnings():  # OpenAI ships TorchScript; torch marks jit.load deprecated
            warnings.simplefilter("ignore", FutureWarning)
            return dict(torch.jit.load(path, map_location="cpu").state_dict())
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ValueError(f'Cannot read "{path}" as a CLIP checkpoint (TorchScript or state dict): {e}') from e
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise ValueError(f'"{path}" holds a {type(obj).__name__}, not a CLIP state dict')
    return {(k[7:] if k.startswith("module.") else k): v for k, v in obj.items()}


def load_folder(folder: str) -> CLIP:
    """A transformers or open_clip model folder (config + weights), with the activation it states."""
    config_name, activation = convert.folder_activation(folder)
    weights = convert.folder_weights(folder, config_name)
    model = _build(weights, activation, any_layout=True)
    print(f"Loaded CLIP backbone from {weights} ({config_name}, activation {activation})")
    return model


def _build(path: str, activation: str, any_layout: bool = False) -> CLIP:
    """The CLIP stored at ``path``, its errors naming the file. ``any_layout`` also converts the
    transformers layout: only where a config stated the activation, which a bare file does not."""
    state_dict = read_state_dict(path)
    try:
        if any_layout and convert.is_transformers_layout(state_dict):
            state_dict = convert.from_transformers(state_dict)
        return convert.build_clip(state_dict, activation)
    except convert.BackboneFormatError as e:
        raise convert.BackboneFormatError(f'"{path}": {e}') from e


def load_clip(name: str, configured_cache_dir: str = "", allow_download: bool = True) -> CLIP:
    """Build the CLIP model for ``name`` on CPU in fp32, eval mode; the caller moves and casts it."""
    path, url = resolve_backbone(name, configured_cache_dir)
    if os.path.isdir(path):
        return load_folder(path)
    if not os.path.isfile(path):
        if url is None or not allow_download:
            raise BackboneNotFoundError(_missing_message(path, url or "(no URL)", "downloads are off"))
        print(f"Downloading CLIP {name} from {url} to {path}")
        download(url, path)
    model = _build(path, convert.QUICK_GELU)
    print(f"Loaded CLIP backbone {name} from {path}")
    return model


def load_clip_from_cfg(cfg: Any) -> CLIP:
    b = cfg.MODEL.BACKBONE
    return load_clip(b.NAME, b.CACHE_DIR, b.DOWNLOAD)
