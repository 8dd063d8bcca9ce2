"""Reading ``torch.save`` files someone else wrote without running their code (docs/engine.md, "Trainer").

Only ``torch.load(weights_only=True)`` is used: tensors, containers and plain values load; a file
whose pickle names other Python objects -- an upstream Dassl scheduler, or a payload that runs a
command when unpickled -- is refused with the names of those objects, read from the pickle's
opcodes without executing anything. Callers add the file's role and the fix to the message.
"""
from __future__ import annotations

import os
from typing import Any

import torch


class UnsafeFileError(ValueError):
    """A ``torch.save`` file that holds pickled Python objects: loading it could run code."""

    def __init__(self, path: str, objects: list[str]) -> None:
        self.path, self.objects = path, objects
        shown = ", ".join(objects[:6]) + (f" and {len(objects) - 6} more" if len(objects) > 6 else "")
        super().__init__(f'"{path}" holds pickled Python objects ({shown}); loading them could run code, so it is refused')


class DamagedFileError(ValueError):
    """A file that ``torch.load`` cannot read: empty, truncated, or not a ``torch.save`` file."""

    def __init__(self, path: str, error: BaseException) -> None:
        self.path = path
        if os.path.getsize(path) == 0:
            what = "is empty"
        else:
            what = f"cannot be read ({_reason(error)})"
        super().__init__(f'"{path}" {what}')


def _reason(error: BaseException) -> str:
    """The error's own reason, without torch's advice to load with ``weights_only=False``."""  # safe: a docstring
    text = str(error)
    if "WeightsUnpickler error:" in text:  # torch's advice first, then the reason on the following lines
        text = text.split("WeightsUnpickler error:", 1)[1]
    lines = [x.strip() for x in text.splitlines() if x.strip()] or ["no detail"]
    return f"{type(error).__name__}: {lines[0][:200]}"


def pickled_objects(path: str) -> list[str]:
    """The globals a full unpickling of ``path`` would import ([] when it names none, or is no archive)."""
    try:
        return torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception:  # not a zip archive, or a damaged one: the caller reports it unreadable
        return []


def load_weights_only(path: str) -> Any:
    """``torch.load(path, weights_only=True)`` on CPU; :class:`UnsafeFileError` for a file holding
    Python objects, :class:`DamagedFileError` for one that cannot be read."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # every reading failure becomes one of the two named errors
        objects = pickled_objects(path)
        if objects:
            raise UnsafeFileError(path, objects) from None
        raise DamagedFileError(path, e) from None
