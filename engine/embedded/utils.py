"""Small helpers of the Dassl API (docs/engine.md §7): logging, seeding, files, meters."""
from __future__ import annotations

import errno
import json
import os
import random
import sys
import time
import warnings
from collections import defaultdict
from typing import Any, Iterable, TextIO

import numpy as np
import torch
from PIL import Image


class _Tee:
    """stdout replacement writing to the terminal and a log file.

    Unlike Dassl's Logger it forwards ``isatty``/``fileno``/``encoding`` to the real stream,
    so libraries that query ``sys.stdout`` keep working (docs/engine.md §9, item 5).
    """

    def __init__(self, stream: TextIO, fpath: str) -> None:
        self.console = stream
        self.file = open(fpath, "w", encoding="utf-8", buffering=1)  # line-buffered: the log is readable live

    def write(self, msg: str) -> int:
        self.console.write(msg)
        self.file.write(msg)
        return len(msg)

    def flush(self) -> None:
        self.console.flush()
        self.file.flush()
        os.fsync(self.file.fileno())

    def close(self) -> None:
        self.file.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.console, name)


def setup_logger(output: str | None = None) -> str | None:
    """Tee stdout to ``output/log.txt`` (or to ``output`` if it ends in .txt/.log).

    An existing file is never overwritten: a ``-%Y-%m-%d-%H-%M-%S`` suffix is appended, as Dassl does.
    Returns the path written to.
    """
    if output is None:
        return None
    fpath = output if output.endswith((".txt", ".log")) else os.path.join(output, "log.txt")
    if os.path.exists(fpath):
        fpath += time.strftime("-%Y-%m-%d-%H-%M-%S")
    mkdir_if_missing(os.path.dirname(os.path.abspath(fpath)))
    base = sys.stdout.console if isinstance(sys.stdout, _Tee) else sys.stdout
    if isinstance(sys.stdout, _Tee):
        sys.stdout.close()
    sys.stdout = _Tee(base, fpath)
    return fpath


def set_random_seed(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and every CUDA device)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)


def collect_env_info() -> str:
    """torch's environment report plus the Pillow version."""
    import PIL
    from torch.utils.collect_env import get_pretty_env_info

    return get_pretty_env_info() + f"\n        Pillow ({PIL.__version__})"


def mkdir_if_missing(dirname: str) -> None:
    if not dirname:
        return
    try:
        os.makedirs(dirname)
    except OSError as e:
        if e.errno != errno.EEXIST:
            raise


def check_isfile(fpath: str) -> bool:
    isfile = os.path.isfile(fpath)
    if not isfile:
        warnings.warn(f'No file found at "{fpath}"', stacklevel=2)
    return isfile


def read_json(fpath: str) -> Any:
    with open(fpath, "r", encoding="utf-8") as f:
        return json.load(f)


def write_json(obj: Any, fpath: str) -> None:
    mkdir_if_missing(os.path.dirname(os.path.abspath(fpath)))
    with open(fpath, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=4, separators=(",", ": "))


def listdir_nohidden(path: str, sort: bool = False) -> list[str]:
    items = [f for f in os.listdir(path) if not f.startswith(".")]
    return sorted(items) if sort else items


def read_image(path: str) -> Image.Image:
    """Read an image as RGB, with an error naming the file when it cannot be decoded."""
    try:
        with Image.open(path) as img:
            return img.convert("RGB")
    except FileNotFoundError:
        raise FileNotFoundError(f'Image not found: "{path}"') from None
    except OSError as e:
        raise OSError(f'Cannot read image "{path}": {e}. Replace or remove the file.') from e


def tolist_if_not(x: Any) -> list:
    return x if isinstance(x, list) else [x]


def count_num_param(model: torch.nn.Module | None = None, params: Iterable | None = None) -> int:
    if model is not None:
        return sum(p.numel() for p in model.parameters())
    if params is None:
        raise ValueError("count_num_param needs a model or params")
    total = 0
    for p in params:
        if isinstance(p, dict):
            total += sum(q.numel() for q in p["params"])
        else:
            total += p.numel()
    return total


class AverageMeter:
    """Running value/average; ``ema`` switches the average to 0.9*avg + 0.1*val."""

    def __init__(self, ema: bool = False) -> None:
        self.ema = ema
        self.reset()

    def reset(self) -> None:
        self.val = 0.0
        self.avg = 0.0
        self.sum = 0.0
        self.count = 0

    def update(self, val: Any, n: int = 1) -> None:
        if isinstance(val, torch.Tensor):
            val = val.item()
        self.val = val
        self.sum += val * n
        self.count += n
        self.avg = 0.9 * self.avg + 0.1 * val if self.ema else self.sum / self.count


class MetricMeter:
    """A dict of AverageMeters printed as ``name val (avg)``."""

    def __init__(self, delimiter: str = " ") -> None:
        self.meters: defaultdict[str, AverageMeter] = defaultdict(AverageMeter)
        self.delimiter = delimiter

    def update(self, input_dict: dict | None) -> None:
        if input_dict is None:
            return
        if not isinstance(input_dict, dict):
            raise TypeError("Input to MetricMeter.update() must be a dictionary")
        for k, v in input_dict.items():
            self.meters[k].update(v.item() if isinstance(v, torch.Tensor) else v)

    def __str__(self) -> str:
        return self.delimiter.join(f"{name} {m.val:.4f} ({m.avg:.4f})" for name, m in self.meters.items())
