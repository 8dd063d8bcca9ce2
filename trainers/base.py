"""The base class of the project's trainers: engine API + fixed checkpointing + precision policy.

Subclasses build their model in ``build_model`` and call :meth:`BaseTrainer.register_trainable`
with the module whose trainable parameters the optimiser gets; CLIP itself stays frozen.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any

import torch
from torch import nn

from engine import TrainerX, build_lr_scheduler, build_optimizer
from engine.precision import Precision, check_prec, resolve_device, resolve_precision


class BaseTrainer(TrainerX):
    """TrainerX with the project's device/precision policy and resumable checkpoints.

    ``CONFIG_NODE`` names the trainer's own config node (``"DCAR"``: ``TRAINER.DCAR``), read
    through :meth:`node`; its ``PREC`` sets the precision. Without one the trainer runs in fp32.
    """

    CONFIG_NODE: str = ""
    step_losses: list[float] | None = None  # the current epoch's losses, while an epoch runs
    progress: Any = None  # the current epoch's progress bar, while an epoch runs

    def node(self, cfg: Any = None) -> Any:
        """This trainer's config node (of ``cfg``, default the trainer's config)."""
        return (self.cfg if cfg is None else cfg).TRAINER[self.CONFIG_NODE]

    def precision_name(self, cfg: Any) -> str:
        return self.node(cfg).PREC if self.CONFIG_NODE else "fp32"

    def check_cfg(self, cfg: Any) -> None:
        check_prec(self.precision_name(cfg), f"TRAINER.{self.CONFIG_NODE}.PREC")

    def build_precision(self) -> Precision:
        """Resolve device and precision once; every module and batch follows ``self.precision``."""
        self.device = resolve_device(self.cfg.USE_CUDA)
        self.precision = resolve_precision(self.precision_name(self.cfg), self.device)
        self.scaler = self.precision.scaler
        print(f"Running on {self.precision.describe()}")
        return self.precision

    def register_trainable(self, name: str, module: nn.Module) -> None:
        """Register ``module`` with an optimiser over its trainable parameters and the LR schedule;
        log how many parameters train and under which names."""
        params = [p for p in module.parameters() if p.requires_grad]
        if not params:
            raise ValueError(f"Model {name!r} has no trainable parameters")
        groups: defaultdict[str, int] = defaultdict(int)
        for pname, p in module.named_parameters():
            if p.requires_grad:
                groups[".".join(pname.split(".")[:2])] += p.numel()
        total = sum(groups.values())
        print(f"Trainable parameters of {name}: {total:,} in " + ", ".join(f"{g} ({n:,})" for g, n in groups.items()))
        optim = build_optimizer(params, self.cfg.OPTIM)
        sched = build_lr_scheduler(optim, self.cfg.OPTIM)
        self.register_model(name, module, optim, sched)

    def model_backward_and_update(self, loss: torch.Tensor, names: Any = None, logged: float | None = None) -> None:
        """One optimisation step; every training step passes here, so the epoch's losses (``logged``,
        else ``loss``) and the progress bar are kept up to date here too."""
        if self.step_losses is not None:
            self.step_losses.append(float(loss.detach()) if logged is None else logged)
        if self.progress is not None:
            self.progress.update()
        self.model_zero_grad(names)
        self.detect_anomaly(loss)
        optims = [self._optims[n] for n in self.get_model_names(names) if self._optims[n] is not None]
        self.precision.backward_and_step(loss, optims)
