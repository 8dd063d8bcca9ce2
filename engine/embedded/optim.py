"""Optimisers with Dassl's semantics (docs/engine.md, "Optimisers and schedules"); the LR schedule is in
``engine/fixes/lr_scheduler.py`` (used under real Dassl too)."""
from __future__ import annotations

from typing import Any, Iterable

import torch
from torch import nn

AVAILABLE_OPTIMIZERS = ("adam", "amsgrad", "sgd", "rmsprop", "radam", "adamw")


def _param_groups(model: nn.Module | Iterable, optim_cfg: Any, param_groups: Any) -> Any:
    if param_groups is not None:
        return param_groups
    if not isinstance(model, nn.Module):
        return model
    if not optim_cfg.STAGED_LR:
        return model.parameters()
    new_layers = optim_cfg.NEW_LAYERS
    if isinstance(new_layers, str):
        new_layers = [new_layers]
    if not new_layers:
        raise ValueError("OPTIM.STAGED_LR is set but OPTIM.NEW_LAYERS is empty")
    base, new = [], []
    for name, module in model.named_children():
        (new if name in new_layers else base).extend(module.parameters())
    return [
        {"params": base, "lr": optim_cfg.LR * optim_cfg.BASE_LR_MULT},
        {"params": new},
    ]


def build_optimizer(model: nn.Module | Iterable, optim_cfg: Any, param_groups: Any = None) -> torch.optim.Optimizer:
    """Build the optimiser named by ``OPTIM.NAME`` over a module's parameters or given groups."""
    name = optim_cfg.NAME
    if name not in AVAILABLE_OPTIMIZERS:
        raise ValueError(f"OPTIM.NAME must be one of {AVAILABLE_OPTIMIZERS}, but got {name!r}")
    params = _param_groups(model, optim_cfg, param_groups)
    lr, wd = optim_cfg.LR, optim_cfg.WEIGHT_DECAY
    betas = (optim_cfg.ADAM_BETA1, optim_cfg.ADAM_BETA2)
    if name == "sgd":
        return torch.optim.SGD(
            params,
            lr=lr,
            momentum=optim_cfg.MOMENTUM,
            weight_decay=wd,
            dampening=optim_cfg.SGD_DAMPNING,
            nesterov=optim_cfg.SGD_NESTEROV,
        )
    if name in ("adam", "amsgrad"):
        return torch.optim.Adam(params, lr=lr, weight_decay=wd, betas=betas, amsgrad=name == "amsgrad")
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd, betas=betas)
    if name == "rmsprop":
        return torch.optim.RMSprop(
            params, lr=lr, momentum=optim_cfg.MOMENTUM, weight_decay=wd, alpha=optim_cfg.RMSPROP_ALPHA
        )
    return torch.optim.RAdam(params, lr=lr, weight_decay=wd, betas=betas)
