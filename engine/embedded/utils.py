"""Small helpers of the Dassl API that the project uses (docs/engine.md, "Utilities"): seeding, the
environment report, folders, images, meters. The logger is in ``engine/fixes/logger.py``."""
from __future__ import annotations

import errno
import os
import random
from collections import defaultdict
from typing import Any

import numpy as np
import torch
from PIL import Image


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
