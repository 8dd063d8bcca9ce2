"""Device and precision policy, in one place (docs/method.md, "Training").

``PREC`` takes CoOp's values plus ``bf16``:

==========  ==================================================================
``fp32``    fp32 everywhere.
``amp``     CUDA autocast: bf16 where the GPU supports it, else fp16 with a grad scaler.
``bf16``    CUDA autocast in bf16 (error if unsupported).
``fp16``    CUDA autocast in fp16 with a grad scaler.
==========  ==================================================================

Without CUDA every choice runs in fp32 (a note is printed). Frozen weights are cast to the
autocast dtype to save memory and bandwidth; trainable parameters stay fp32; losses and
similarities are computed in fp32 by the callers. Every module takes its device from here;
none names a device of its own.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import nn

from engine import distributed

PRECISIONS = ("fp16", "bf16", "amp", "fp32")


def resolve_device(use_cuda: bool = True) -> torch.device:
    """CUDA (this process's GPU under ``torchrun``) when available and allowed by ``USE_CUDA``, else CPU."""
    return distributed.local_cuda_device() if use_cuda and torch.cuda.is_available() else torch.device("cpu")


@dataclass
class Precision:
    """How to run a model on ``device``: the autocast dtype (None = fp32) and a grad scaler."""

    device: torch.device
    requested: str
    autocast_dtype: torch.dtype | None = None
    scaler: Any = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return {None: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}[self.autocast_dtype]

    @property
    def frozen_dtype(self) -> torch.dtype:
        """dtype for frozen weights."""
        return self.autocast_dtype or torch.float32

    @property
    def text_group_overhead(self) -> int:
        """The fixed cost of one more text-encoder pass, in token-rows of compute, used to group
        captions by length (the CLIP driver's length groups): on a CPU a pass costs
        little beyond its arithmetic; on a GPU its kernel launches cost about as much as
        thousands of token-rows."""
        return 4096 if self.device.type == "cuda" else 64

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.autocast_dtype)

    def cast_frozen(self, module: nn.Module) -> nn.Module:
        """Cast the parameters and buffers of a frozen module to ``frozen_dtype``."""
        return module.to(self.frozen_dtype)

    def backward_and_step(self, loss: torch.Tensor, optimizers: list[torch.optim.Optimizer],
                          before_step: Callable[[], None] | None = None) -> None:
        """Backward pass and optimiser steps, through the grad scaler when there is one;
        ``before_step`` runs between them (the gradient average across processes)."""
        (loss if self.scaler is None else self.scaler.scale(loss)).backward()
        if before_step is not None:
            before_step()
        for opt in optimizers:
            opt.step() if self.scaler is None else self.scaler.step(opt)
        if self.scaler is not None:
            self.scaler.update()

    def describe(self) -> str:
        return f"device {self.device}, precision {self.name} (PREC {self.requested})"


def check_prec(prec: str, key: str) -> None:
    if prec not in PRECISIONS:
        raise ValueError(f"{key} must be one of {PRECISIONS}, but got {prec!r}")


def resolve_precision(prec: str, device: torch.device) -> Precision:
    """The precision actually used for ``prec`` on ``device``."""
    check_prec(prec, "PREC")
    if device.type != "cuda" or prec == "fp32":
        if prec != "fp32":
            print(f"Note: PREC {prec} needs CUDA; running in fp32 on {device}")
        return Precision(device, prec)
    bf16_ok = torch.cuda.is_bf16_supported()
    if prec == "bf16" and not bf16_ok:
        raise ValueError("PREC bf16 is not supported by this GPU; use amp or fp16")
    if prec == "bf16" or (prec == "amp" and bf16_ok):
        return Precision(device, prec, torch.bfloat16)
    return Precision(device, prec, torch.float16, torch.amp.GradScaler("cuda"))

