"""Trainer classes with the Dassl API (docs/engine.md, "Trainer"): TrainerBase, SimpleTrainer,
TrainerX, classification test included. Checkpointing is not here: :mod:`engine` puts the
project's ``CheckpointMixin`` in front of these classes exactly as in front of Dassl's, so a trainer
has one method order under both engines."""
from __future__ import annotations

import datetime
import os
import time
from collections import OrderedDict
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from .data import DataManager
from .evaluation import build_evaluator
from .registry import Registry, build_from_registry
from .utils import AverageMeter, MetricMeter, mkdir_if_missing, tolist_if_not

TRAINER_REGISTRY = Registry("TRAINER")


def build_trainer(cfg: Any) -> Any:
    return build_from_registry(TRAINER_REGISTRY, cfg.TRAINER.NAME, "trainer", cfg.VERBOSE, cfg=cfg)


class TrainerBase:
    """Model/optimiser/scheduler bookkeeping, the epoch loop and hooks."""

    def __init__(self) -> None:
        self._models: OrderedDict[str, nn.Module] = OrderedDict()
        self._optims: OrderedDict[str, Any] = OrderedDict()
        self._scheds: OrderedDict[str, Any] = OrderedDict()
        self._writer: Any = None

    def register_model(self, name: str = "model", model: nn.Module | None = None, optim: Any = None, sched: Any = None) -> None:
        if self.__dict__.get("_models") is None:
            raise AttributeError("Cannot assign model before super().__init__() call")
        if name in self._models:
            raise KeyError(f'Found duplicate model names: "{name}"')
        self._models[name] = model
        self._optims[name] = optim
        self._scheds[name] = sched

    def get_model_names(self, names: Any = None) -> list[str]:
        if names is None:
            return list(self._models.keys())
        names = tolist_if_not(names)
        for name in names:
            if name not in self._models:
                raise KeyError(f'Model "{name}" is not registered; registered: {list(self._models)}')
        return names

    def set_model_mode(self, mode: str = "train", names: Any = None) -> None:
        for name in self.get_model_names(names):
            if mode == "train":
                self._models[name].train()
            elif mode in ("test", "eval"):
                self._models[name].eval()
            else:
                raise KeyError(f"Unknown model mode {mode!r} (expected train, test or eval)")

    def update_lr(self, names: Any = None) -> None:
        for name in self.get_model_names(names):
            if self._scheds[name] is not None:
                self._scheds[name].step()

    def detect_anomaly(self, loss: torch.Tensor) -> None:
        if not torch.isfinite(loss).all():
            raise FloatingPointError("Loss is infinite or NaN!")

    def init_writer(self, log_dir: str) -> None:
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter

            print(f"Initialize tensorboard (log_dir={log_dir})")
            self._writer = SummaryWriter(log_dir=log_dir)

    def close_writer(self) -> None:
        if self._writer is not None:
            self._writer.close()

    def write_scalar(self, tag: str, scalar_value: Any, global_step: int | None = None) -> None:
        if self._writer is not None:
            self._writer.add_scalar(tag, scalar_value, global_step)

    def train(self, start_epoch: int, max_epoch: int) -> None:
        self.start_epoch = start_epoch
        self.max_epoch = max_epoch
        self.before_train()
        for self.epoch in range(self.start_epoch, self.max_epoch):  # noqa: B020 - Dassl keeps the loop state on self
            self.before_epoch()
            self.run_epoch()
            self.after_epoch()
        self.after_train()

    def before_train(self) -> None:
        pass

    def after_train(self) -> None:
        pass

    def before_epoch(self) -> None:
        pass

    def run_epoch(self) -> None:
        raise NotImplementedError

    def test(self, split: str | None = None) -> Any:
        raise NotImplementedError

    def parse_batch_train(self, batch: dict) -> Any:
        raise NotImplementedError

    def forward_backward(self, batch: dict) -> dict | None:
        raise NotImplementedError

    def model_zero_grad(self, names: Any = None) -> None:
        for name in self.get_model_names(names):
            if self._optims[name] is not None:
                self._optims[name].zero_grad()

    def model_backward(self, loss: torch.Tensor) -> None:
        self.detect_anomaly(loss)
        loss.backward()

    def model_update(self, names: Any = None) -> None:
        for name in self.get_model_names(names):
            if self._optims[name] is not None:
                self._optims[name].step()

    def model_backward_and_update(self, loss: torch.Tensor, names: Any = None) -> None:
        self.model_zero_grad(names)
        self.model_backward(loss)
        self.model_update(names)


class SimpleTrainer(TrainerBase):
    """Builds data, model and evaluator from a config; trains and tests."""

    def __init__(self, cfg: Any) -> None:
        super().__init__()
        self.check_cfg(cfg)
        use_cuda = torch.cuda.is_available() and cfg.USE_CUDA
        self.device = torch.device("cuda") if use_cuda else torch.device("cpu")
        self.start_epoch = self.epoch = 0
        self.max_epoch = cfg.OPTIM.MAX_EPOCH
        self.output_dir = cfg.OUTPUT_DIR
        self.cfg = cfg
        self.build_data_loader()
        self.build_model()
        self.evaluator = build_evaluator(cfg, lab2cname=self.lab2cname)
        self.best_result = -np.inf

    def check_cfg(self, cfg: Any) -> None:
        pass

    def build_data_loader(self) -> None:
        dm = DataManager(self.cfg)
        self.train_loader_x = dm.train_loader_x
        self.train_loader_u = dm.train_loader_u
        self.val_loader = dm.val_loader
        self.test_loader = dm.test_loader
        self.num_classes = dm.num_classes
        self.num_source_domains = dm.num_source_domains
        self.lab2cname = dm.lab2cname
        self.dm = dm

    def build_model(self) -> None:
        raise NotImplementedError(
            f"{type(self).__name__} must override build_model() (the embedded engine has no SimpleNet)"
        )

    def train(self) -> None:  # type: ignore[override]
        super().train(self.start_epoch, self.max_epoch)

    def before_train(self) -> None:
        directory = self.cfg.RESUME or self.cfg.OUTPUT_DIR
        self.start_epoch = self.resume_model_if_exist(directory)
        writer_dir = os.path.join(self.output_dir, "tensorboard")
        mkdir_if_missing(writer_dir)
        self.init_writer(writer_dir)
        self.time_start = time.time()

    def after_train(self) -> None:
        print("Finish training")
        if not self.cfg.TEST.NO_TEST:
            if self.cfg.TEST.FINAL_MODEL == "best_val":
                print("Deploy the model with the best val performance")
                self.load_model(self.output_dir)
            else:
                print("Deploy the last-epoch model")
            self.test()
        elapsed = str(datetime.timedelta(seconds=round(time.time() - self.time_start)))
        print(f"Elapsed: {elapsed}")
        self.close_writer()

    @torch.no_grad()
    def test(self, split: str | None = None) -> float:
        """Dassl's classification test: ``model_inference`` over the split's batches into the
        evaluator; returns its first result (accuracy). The project's trainers replace it by retrieval."""
        self.set_model_mode("eval")
        self.evaluator.reset()
        split = split or self.cfg.TEST.SPLIT
        if split == "val" and self.val_loader is not None:
            loader = self.val_loader
        else:
            split, loader = "test", self.test_loader
        print(f"Evaluate on the *{split}* set")
        for batch in tqdm(loader):
            inputs, label = self.parse_batch_test(batch)
            self.evaluator.process(self.model_inference(inputs), label)
        results = self.evaluator.evaluate()
        for k, v in results.items():
            self.write_scalar(f"{split}/{k}", v, self.epoch)
        return list(results.values())[0]

    def model_inference(self, input: torch.Tensor) -> torch.Tensor:  # noqa: A002 - Dassl's parameter name
        return self.model(input)

    def parse_batch_test(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        return batch["img"].to(self.device), batch["label"].to(self.device)

    def get_current_lr(self, names: Any = None) -> float:
        name = self.get_model_names(names)[0]
        return self._optims[name].param_groups[0]["lr"]


class TrainerX(SimpleTrainer):
    """Training loop over labelled data (the loop CoOp/MaPLe rely on, docs/engine.md, "Trainer")."""

    def run_epoch(self) -> None:
        self.set_model_mode("train")
        losses = MetricMeter()
        batch_time, data_time = AverageMeter(), AverageMeter()
        self.num_batches = len(self.train_loader_x)
        end = time.time()
        for self.batch_idx, batch in enumerate(self.train_loader_x):  # noqa: B020 - as in Dassl
            data_time.update(time.time() - end)
            loss_summary = self.forward_backward(batch)
            batch_time.update(time.time() - end)
            losses.update(loss_summary)
            meet_freq = (self.batch_idx + 1) % self.cfg.TRAIN.PRINT_FREQ == 0
            if meet_freq or self.num_batches < self.cfg.TRAIN.PRINT_FREQ:
                remaining = self.num_batches - self.batch_idx - 1
                remaining += (self.max_epoch - self.epoch - 1) * self.num_batches
                eta = str(datetime.timedelta(seconds=int(batch_time.avg * remaining)))
                print(
                    f"epoch [{self.epoch + 1}/{self.max_epoch}] batch [{self.batch_idx + 1}/{self.num_batches}] "
                    f"time {batch_time.val:.3f} ({batch_time.avg:.3f}) data {data_time.val:.3f} ({data_time.avg:.3f}) "
                    f"{losses} lr {self.get_current_lr():.4e} eta {eta}"
                )
            n_iter = self.epoch * self.num_batches + self.batch_idx
            for name, meter in losses.meters.items():
                self.write_scalar("train/" + name, meter.avg, n_iter)
            self.write_scalar("train/lr", self.get_current_lr(), n_iter)
            end = time.time()

    def parse_batch_train(self, batch: dict) -> Any:
        return batch["img"].to(self.device), batch["label"].to(self.device), batch["domain"].to(self.device)
