"""Reading weight files, told apart by their content (docs/backbones.md, "Formats").

A weight file is a TorchScript archive (OpenAI's releases), a safetensors file or a ``torch.save``
file (``.pt``/``.pth``/``.bin``: a state dict, optionally under ``state_dict`` and with DDP's
``module.`` prefixes). Besides the tensors, a file may state the MLP activation it was trained
with: a TorchScript archive carries its model's code (``QuickGELU`` or ``GELU``), and a
safetensors file may name it in its metadata (``{"activation": "quick_gelu"}``, as
:func:`save_safetensors` writes). A plain state dict states none.
"""
from __future__ import annotations

import hashlib
import os
import re
import warnings
import zipfile

import torch

from .convert import GELU, QUICK_GELU

ACTIVATION_KEY = "activation"
_TS_QUICK_GELU = re.compile(rb":\s*__torch__\.[\w.]*QuickGELU\b")
_TS_GELU = re.compile(rb":\s*__torch__\.torch\.nn\.modules\.activation\.GELU\b")


def sha256(path: str) -> str:
    """The file's SHA-256 (hex), read in 8 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 23):
            digest.update(block)
    return digest.hexdigest()


def is_torchscript(path: str) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as zf:
        return any(n.endswith("/constants.pkl") or "/code/" in n for n in zf.namelist())


def is_safetensors(path: str) -> bool:
    """A safetensors file starts with its header's length (8 bytes, little endian) and a JSON object."""
    with open(path, "rb") as f:
        head = f.read(9)
    return len(head) == 9 and head[8:] == b"{" and int.from_bytes(head[:8], "little") < os.path.getsize(path)


def read_state_dict(path: str) -> dict[str, torch.Tensor]:
    """The CLIP state dict stored in a TorchScript archive, a safetensors file or a ``torch.save`` file."""
    if is_safetensors(path):
        from safetensors.torch import load_file

        return load_file(path)
    if is_torchscript(path):
        with warnings.catch_warnings():  # OpenAI ships TorchScript; torch marks jit.load deprecated
            warnings.simplefilter("ignore", FutureWarning)
            return dict(torch.jit.load(path, map_location="cpu").state_dict())
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch's own text advises weights_only=False: never do that with a download
        with open(path, "rb") as f:
            text = b"\0" not in f.read(4096)
        what = "it is a text file (a download that saved an error page?)" if text else type(e).__name__
        raise ValueError(f'Cannot read "{path}" as CLIP weights (TorchScript, safetensors or a torch.save state dict): '
                         f"{what}. Fetch the file again (python -m trainers.backbones fetch NAME)") from e
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise ValueError(f'"{path}" holds a {type(obj).__name__}, not a CLIP state dict')
    return {(k[7:] if k.startswith("module.") else k): v for k, v in obj.items()}


def stated_activation(path: str) -> str:
    """The MLP activation the file itself states (``quick_gelu``/``gelu``), or "" when it states none."""
    if is_safetensors(path):
        from safetensors import safe_open

        with safe_open(path, framework="pt") as f:
            return (f.metadata() or {}).get(ACTIVATION_KEY, "")
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
