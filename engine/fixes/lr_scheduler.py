"""Learning-rate schedules with Dassl's semantics (docs/engine.md, "Optimisers and schedules"), fixed
(docs/engine.md, "Faults fixed under both engines", items 1-3): the warm-up wrapper works on torch
>= 2.7, its state dict holds only plain values (loads with ``torch.load(weights_only=True)``), and
resuming steps the live optimiser instead of a stale copy. Used under real Dassl too.
"""
from __future__ import annotations

from typing import Any

import torch
from torch.optim.lr_scheduler import CosineAnnealingLR, LRScheduler, MultiStepLR, StepLR

AVAILABLE_SCHEDULERS = ("single_step", "multi_step", "cosine")
AVAILABLE_WARMUPS = ("constant", "linear")


class WarmupLR(LRScheduler):
    """Warm up for ``warmup_epoch`` steps, then follow ``successor``.

    ``constant``: lr = ``cons_lr`` during warm-up. ``linear``: lr = ``min_lr`` at step 0, then
    ``base_lr * step / warmup_epoch``. Once warm-up is over each ``step`` advances only the
    successor and this scheduler reports the successor's lr (Dassl's semantics).
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        successor: LRScheduler,
        warmup_epoch: int,
        warmup_type: str,
        cons_lr: float,
        min_lr: float,
    ) -> None:
        if warmup_type not in AVAILABLE_WARMUPS:
            raise ValueError(f"OPTIM.WARMUP_TYPE must be one of {AVAILABLE_WARMUPS}, but got {warmup_type!r}")
        self.successor = successor
        self.warmup_epoch = warmup_epoch
        self.warmup_type = warmup_type
        self.cons_lr = cons_lr
        self.min_lr = min_lr
        super().__init__(optimizer)

    def get_lr(self) -> list[float]:
        if self.last_epoch >= self.warmup_epoch:
            return list(self.successor.get_last_lr())
        if self.warmup_type == "constant":
            return [self.cons_lr for _ in self.base_lrs]
        if self.last_epoch == 0:
            return [self.min_lr for _ in self.base_lrs]
        return [lr * self.last_epoch / self.warmup_epoch for lr in self.base_lrs]

    def step(self, epoch: int | None = None) -> None:  # noqa: D102 - same contract as LRScheduler.step
        if epoch is not None:
            raise ValueError("WarmupLR.step() takes no epoch argument")
        if self.last_epoch >= self.warmup_epoch:
            self.successor.step()
            self._last_lr = list(self.successor.get_last_lr())
        else:
            super().step()

    def state_dict(self) -> dict[str, Any]:
        state = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "successor")}
        state["successor"] = self.successor.state_dict()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state = dict(state_dict)
        successor_state = state.pop("successor")
        self.__dict__.update(state)
        self.successor.load_state_dict(successor_state)


def build_lr_scheduler(optimizer: torch.optim.Optimizer, optim_cfg: Any) -> LRScheduler:
    """The schedule named by ``OPTIM.LR_SCHEDULER``, wrapped in warm-up when ``WARMUP_EPOCH > 0``."""
    name = optim_cfg.LR_SCHEDULER
    max_epoch = optim_cfg.MAX_EPOCH
    if name not in AVAILABLE_SCHEDULERS:
        raise ValueError(f"OPTIM.LR_SCHEDULER must be one of {AVAILABLE_SCHEDULERS}, but got {name!r}")
    if name == "single_step":
        stepsize = optim_cfg.STEPSIZE
        if isinstance(stepsize, (list, tuple)):
            stepsize = stepsize[-1]
        if not isinstance(stepsize, int):
            raise TypeError(f"OPTIM.STEPSIZE must be an int (or a list ending in one), but got {stepsize!r}")
        if stepsize <= 0:
            stepsize = max_epoch
        scheduler: LRScheduler = StepLR(optimizer, step_size=stepsize, gamma=optim_cfg.GAMMA)
    elif name == "multi_step":
        milestones = optim_cfg.STEPSIZE
        if not isinstance(milestones, (list, tuple)):
            raise TypeError(f"OPTIM.STEPSIZE must be a list for multi_step, but got {milestones!r}")
        scheduler = MultiStepLR(optimizer, milestones=list(milestones), gamma=optim_cfg.GAMMA)
    else:
        scheduler = CosineAnnealingLR(optimizer, T_max=float(max_epoch))

    if optim_cfg.WARMUP_EPOCH > 0:
        if not optim_cfg.WARMUP_RECOUNT:
            scheduler.last_epoch = optim_cfg.WARMUP_EPOCH
        scheduler = WarmupLR(
            optimizer,
            scheduler,
            optim_cfg.WARMUP_EPOCH,
            optim_cfg.WARMUP_TYPE,
            optim_cfg.WARMUP_CONS_LR,
            optim_cfg.WARMUP_MIN_LR,
        )
    return scheduler
