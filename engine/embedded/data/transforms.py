"""Image transforms built from ``INPUT.*`` (docs/engine.md, "Data").

The embedded engine implements the transforms CoOp/MaPLe-style configs use; naming one of
Dassl's others gives an error that says so instead of silently skipping it.
"""
from __future__ import annotations

from typing import Any, Callable

from torchvision.transforms import (
    CenterCrop,
    ColorJitter,
    Compose,
    GaussianBlur,
    InterpolationMode,
    Normalize,
    RandomApply,
    RandomCrop,
    RandomGrayscale,
    RandomHorizontalFlip,
    RandomResizedCrop,
    Resize,
    ToTensor,
)

INTERPOLATION_MODES = {
    "bilinear": InterpolationMode.BILINEAR,
    "bicubic": InterpolationMode.BICUBIC,
    "nearest": InterpolationMode.NEAREST,
}
SUPPORTED = (
    "random_flip",
    "random_resized_crop",
    "normalize",
    "random_crop",
    "random_translation",
    "center_crop",
    "colorjitter",
    "randomgrayscale",
    "gaussian_blur",
)
DASSL_ONLY = (
    "instance_norm",
    "cutout",
    "imagenet_policy",
    "cifar10_policy",
    "svhn_policy",
    "randaugment",
    "randaugment_fixmatch",
    "randaugment2",
    "gaussian_noise",
)


def _check_choices(choices: tuple) -> None:
    for choice in choices:
        if choice in DASSL_ONLY:
            raise ValueError(
                f'Transform "{choice}" is not implemented by the embedded engine (supported: {", ".join(SUPPORTED)}). '
                "Install Dassl to use it, or remove it from INPUT.TRANSFORMS."
            )
        if choice not in SUPPORTED:
            raise ValueError(f'Unknown transform "{choice}" in INPUT.TRANSFORMS; supported: {", ".join(SUPPORTED)}')


def _normalize(cfg: Any, choices: tuple) -> list[Callable]:
    if "normalize" not in choices:
        return []
    print(f"+ normalization (mean={cfg.INPUT.PIXEL_MEAN}, std={cfg.INPUT.PIXEL_STD})")
    return [Normalize(mean=cfg.INPUT.PIXEL_MEAN, std=cfg.INPUT.PIXEL_STD)]


def _train(cfg: Any, choices: tuple, interp: InterpolationMode) -> Compose:
    print("Building transform_train")
    size = tuple(cfg.INPUT.SIZE)
    tfm: list[Callable] = []
    if "random_crop" not in choices and "random_resized_crop" not in choices:
        print(f"+ resize to {size[0]}x{size[1]}")
        tfm.append(Resize(size, interpolation=interp))
    if "random_translation" in choices:
        print("+ random translation")
        big = (round(size[0] * 1.125), round(size[1] * 1.125))
        tfm.append(RandomApply([Resize(big, interpolation=interp), RandomCrop(size)], p=0.5))
    if "random_crop" in choices:
        print(f"+ random crop (padding = {cfg.INPUT.CROP_PADDING})")
        tfm.append(RandomCrop(size, padding=cfg.INPUT.CROP_PADDING))
    if "random_resized_crop" in choices:
        scale = tuple(cfg.INPUT.RRCROP_SCALE)
        print(f"+ random resized crop (size={size}, scale={scale})")
        tfm.append(RandomResizedCrop(size, scale=scale, interpolation=interp))
    if "center_crop" in choices:
        print(f"+ {size[0]}x{size[1]} center crop")
        tfm.append(CenterCrop(size))
    if "random_flip" in choices:
        print("+ random flip")
        tfm.append(RandomHorizontalFlip())
    if "colorjitter" in choices:
        i = cfg.INPUT
        print(f"+ color jitter (brightness={i.COLORJITTER_B}, contrast={i.COLORJITTER_C}, saturation={i.COLORJITTER_S}, hue={i.COLORJITTER_H})")
        tfm.append(ColorJitter(i.COLORJITTER_B, i.COLORJITTER_C, i.COLORJITTER_S, i.COLORJITTER_H))
    if "randomgrayscale" in choices:
        print("+ random gray scale")
        tfm.append(RandomGrayscale(p=cfg.INPUT.RGS_P))
    if "gaussian_blur" in choices:
        print(f"+ gaussian blur (kernel={cfg.INPUT.GB_K})")
        tfm.append(RandomApply([GaussianBlur(cfg.INPUT.GB_K)], p=cfg.INPUT.GB_P))
    print("+ to torch tensor of range [0, 1]")
    tfm.append(ToTensor())
    return Compose(tfm + _normalize(cfg, choices))


def _test(cfg: Any, choices: tuple, interp: InterpolationMode) -> Compose:
    print("Building transform_test")
    size = tuple(cfg.INPUT.SIZE)
    print(f"+ resize the smaller edge to {max(size)}")
    print(f"+ {size[0]}x{size[1]} center crop")
    print("+ to torch tensor of range [0, 1]")
    tfm = [Resize(max(size), interpolation=interp), CenterCrop(size), ToTensor()]
    return Compose(tfm + _normalize(cfg, choices))


def build_transform(cfg: Any, is_train: bool = True, choices: Any = None) -> Compose | None:
    if cfg.INPUT.NO_TRANSFORM:
        print("Note: no transform is applied!")
        return None
    choices = tuple(cfg.INPUT.TRANSFORMS if choices is None else choices)
    _check_choices(choices)
    if cfg.INPUT.INTERPOLATION not in INTERPOLATION_MODES:
        raise ValueError(f"INPUT.INTERPOLATION must be one of {list(INTERPOLATION_MODES)}, got {cfg.INPUT.INTERPOLATION!r}")
    interp = INTERPOLATION_MODES[cfg.INPUT.INTERPOLATION]
    return _train(cfg, choices, interp) if is_train else _test(cfg, choices, interp)
