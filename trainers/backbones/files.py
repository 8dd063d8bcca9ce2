"""Reading weight files, told apart by their content (docs/backbones.md, "Formats").

A weight file is a TorchScript archive (OpenAI's releases), a safetensors file or a ``torch.save``
file (``.pt``/``.pth``/``.bin``: a state dict, optionally under ``state_dict`` and with DDP's
``module.`` prefixes). Besides the tensors, a file may state the MLP activation it was trained
with: a TorchScript archive carries its model's code (``QuickGELU`` or ``GELU``), and a
safetensors file may name it in its metadata (``{"activation": "quick_gelu"}``, as
:func:`save_safetensors` writes). A plain state dict states none.

Nothing in a weight file runs: ``torch.save`` files load with ``weights_only=True`` only, and a
TorchScript archive -- which carries code that ``torch.jit.load`` runs -- is loaded only when its
SHA-256 is one the caller trusts (OpenAI's original releases, whose hashes the table holds); the
activation is read from its code as text.
"""
from __future__ import annotations

import functools
import hashlib
import os
import re
import warnings
import zipfile
from typing import Collection

import torch

from engine.safe_load import DamagedFileError, UnsafeFileError, load_weights_only

from .convert import GELU, QUICK_GELU

ACTIVATION_KEY = "activation"
_MAX_HEADER = 100 << 20  # safetensors' own limit on the JSON header
_TS_QUICK_GELU = re.compile(rb":\s*__torch__\.[\w.]*QuickGELU\b")
_TS_GELU = re.compile(rb":\s*__torch__\.torch\.nn\.modules\.activation\.GELU\b")


def sha256(path: str) -> str:
    """The file's SHA-256 (hex), computed once per process for an unchanged file (locating weights
    and reading a TorchScript archive both need it)."""
    st = os.stat(path)
    return _sha256(os.path.realpath(path), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 23):  # 8 MiB blocks
            digest.update(block)
    return digest.hexdigest()


def is_torchscript(path: str) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as zf:
        return any(n.endswith("/constants.pkl") or "/code/" in n for n in zf.namelist())


def is_safetensors(path: str) -> bool:
    """A safetensors file starts with its header's length (8 bytes, little endian) and a JSON
    object (a truncated one too: reading it then names it damaged)."""
    with open(path, "rb") as f:
        head = f.read(9)
    return len(head) == 9 and head[8:] == b"{" and 0 < int.from_bytes(head[:8], "little") < _MAX_HEADER


def _refetch(path: str) -> str:
    return (f"Fix: fetch the file again (python -m trainers.backbones fetch NAME), or point MODEL.BACKBONE.NAME at "
            f'another copy of "{os.path.basename(path)}"')


def _damaged_safetensors(path: str, e: Exception) -> ValueError:
    return ValueError(f'"{path}" is a damaged safetensors file ({str(e).splitlines()[0]}). {_refetch(path)}')


def _load_safetensors(path: str) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(path)
    except (SafetensorError, OSError) as e:
        raise _damaged_safetensors(path, e) from None


def read_state_dict(path: str, trusted_torchscript: Collection[str] = ()) -> dict[str, torch.Tensor]:
    """The CLIP state dict stored in a safetensors file, a ``torch.save`` file, or a TorchScript
    archive whose SHA-256 is in ``trusted_torchscript`` (any other archive is refused unread)."""
    if is_safetensors(path):
        return _load_safetensors(path)
    if is_torchscript(path):
        got = sha256(path)
        if got not in trusted_torchscript:
            raise ValueError(
                f'"{path}" is a TorchScript archive with sha256 {got}: loading one runs the code it carries, so only '
                "OpenAI's original release files (checked by their published SHA-256) are loaded that way. Fix: use the "
                "safetensors file of the same weights (python -m trainers.backbones list), or, for an archive you made "
                "yourself, save its state dict on that machine: "
                "torch.save(torch.jit.load(path).state_dict(), 'weights.pt')")  # safe: advice text for the user, not a call
        with warnings.catch_warnings():  # OpenAI ships TorchScript; torch marks jit.load deprecated
            warnings.simplefilter("ignore", FutureWarning)
            return dict(torch.jit.load(path, map_location="cpu").state_dict())  # safe: its SHA-256 is an OpenAI release's
    try:
        obj = load_weights_only(path)
    except UnsafeFileError as e:
        raise ValueError(f"{e}: it is not plain CLIP weights (a weight file holds only tensors). Use the "
                         f"publisher's safetensors file instead. {_refetch(path)}") from None
    except DamagedFileError as e:  # torch's own text advises weights_only=False: never do that with a download
        with open(path, "rb") as f:
            head = f.read(4096)
        text = ": it is a text file (a download that saved an error page?)" if head and b"\0" not in head else ""
        raise ValueError(f"{e}{text}; CLIP weights are a safetensors file or a torch.save state dict. "
                         f"{_refetch(path)}") from None
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise ValueError(f'"{path}" holds a {type(obj).__name__}, not a CLIP state dict')
    return {(k[7:] if k.startswith("module.") else k): v for k, v in obj.items()}


def stated_activation(path: str) -> str:
    """The MLP activation the file itself states (``quick_gelu``/``gelu``), or "" when it states none."""
    if os.path.getsize(path) == 0:
        raise ValueError(f'"{path}" is empty: a download or copy that never finished. {_refetch(path)}')
    if is_safetensors(path):
        from safetensors import SafetensorError, safe_open

        try:
            with safe_open(path, framework="pt") as f:
                return (f.metadata() or {}).get(ACTIVATION_KEY, "")
        except (SafetensorError, OSError) as e:
            raise _damaged_safetensors(path, e) from None
    if is_torchscript(path):
        with zipfile.ZipFile(path) as zf:
            code = b"".join(zf.read(n) for n in zf.namelist() if "/code/" in n and n.endswith(".py"))
        if _TS_QUICK_GELU.search(code):
            return QUICK_GELU
        return GELU if _TS_GELU.search(code) else ""
    return ""


def save_safetensors(state_dict: dict[str, torch.Tensor], path: str, activation: str) -> None:
    """Save CLIP weights as a safetensors file that states its activation (loadable by name)."""
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in state_dict.items()}, path, metadata={ACTIVATION_KEY: activation})
