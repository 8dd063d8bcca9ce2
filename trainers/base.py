"""The base of the project's trainers: a Dassl ``TrainerX`` that trains one
:class:`~trainers.model.PromptedCLIP` under the device/precision policy, evaluates it by retrieval
and keeps per-epoch curves. What a trainer provides and what it inherits is stated once, in
docs/model.md, "Trainers".
"""
from __future__ import annotations

import json
import os
from collections import defaultdict
from typing import Any, Sequence

import torch
from torch import nn
from tqdm import tqdm

from engine import TrainerX, build_lr_scheduler, build_optimizer
from engine import distributed as dist
from engine.precision import Precision, check_prec, resolve_device, resolve_precision
from engine.writes import write_atomic
from evaluation.pictures import plot_curves
from evaluation.report import write_final
from methods import method, trainers
from reporting.identity import flatten, group_key, saved_config

from . import backbones
from .configs import fit_hint
from .features import FeatureCache
from .loaders import train_loader
from .losses import CON_MODES, global_contrastive_loss
from .model import PromptedCLIP, TokenTable


def extend_cfg(cfg: Any) -> None:
    cfg.TRAINER.TEXT_TRIM = True  # run text encoders only up to the batch's longest caption (False: all 77 tokens)
    cfg.TRAINER.FEATURE_CACHE = True  # compute a frozen image tower's features once per run (see module doc)
    cfg.TRAIN.VAL_FREQ = 1  # evaluate val after every N-th epoch and the last; 0: after the last epoch only; -1: never
    cfg.TEST.FINE_GRAINED = True  # the final evaluation also measures negative discrimination and twins


def load_clip(cfg: Any, precision: Precision, frozen: bool = True) -> tuple[nn.Module, backbones.Backbone]:
    """The configured CLIP on the precision's device, checked against ``INPUT.SIZE``; ``frozen``:
    without gradients and cast to the precision's frozen dtype. Also returns the weights' record."""
    backbone = backbones.from_cfg(cfg)
    clip_model = backbones.load(backbone)
    resolution = clip_model.visual.input_resolution
    size = tuple(cfg.INPUT.SIZE)
    if size != (resolution, resolution):
        raise ValueError(f"INPUT.SIZE {size} does not match the input resolution {resolution} of the backbone "
                         f'"{backbone.path}" (its visual.positional_embedding has '
                         f"{clip_model.visual.positional_embedding.shape[0]} rows); "
                         f"set INPUT.SIZE ({resolution}, {resolution}). {fit_hint(cfg)}")
    if frozen:
        clip_model.requires_grad_(False)
        scale = clip_model.logit_scale.detach().clone()
        clip_model = precision.cast_frozen(clip_model).eval()
        clip_model.logit_scale.data = scale  # the temperature stays fp32 (similarities are fp32)
    return clip_model.to(precision.device), backbone


class RetrievalTrainer(TrainerX):
    """The trainers' base (docs/model.md, "Trainers"). ``CONFIG_NODE`` names the trainer's config
    node (``"DCAR"``: ``TRAINER.DCAR``), whose ``PREC`` sets the precision and ``LOSS`` the direction
    of L_con: it is the ``node`` of the trainer's row in ``methods.py``, set when the class is defined."""

    CONFIG_NODE: str = ""
    FROZEN_CLIP = True  # False: CLIP's own weights train (full fine-tuning)
    model: PromptedCLIP
    loaded_from: str | None = None  # the run folder whose weights were loaded for evaluation
    step_losses: list[float] | None = None  # the current epoch's losses, while an epoch runs
    progress: Any = None  # the current epoch's progress bar, while an epoch runs

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__name__ in trainers():  # a subclass without a row of its own keeps its parent's node
            cls.CONFIG_NODE = method(cls.__name__).node

    def __init__(self, cfg: Any) -> None:
        self.last_results: dict[str, dict] = {}
        self.trainable_params: list[nn.Parameter] = []  # of every registered model, averaged across processes
        super().__init__(cfg)

    def node(self, cfg: Any = None) -> Any:
        """This trainer's config node (of ``cfg``, default the trainer's config)."""
        if not self.CONFIG_NODE:
            raise ValueError(f"Trainer {type(self).__name__} has no row in methods.py: add Method({type(self).__name__!r}, "
                             "NAME, NODE, ...) naming its config node TRAINER.<NODE> (docs/extending.md, 'A new trainer')")
        return (self.cfg if cfg is None else cfg).TRAINER[self.CONFIG_NODE]

    def check_cfg(self, cfg: Any) -> None:
        node = self.node(cfg)
        check_prec(node.PREC, f"TRAINER.{self.CONFIG_NODE}.PREC")
        if "LOSS" in node and node.LOSS not in CON_MODES:
            raise ValueError(f"TRAINER.{self.CONFIG_NODE}.LOSS must be one of {CON_MODES}, got {node.LOSS!r}")
        if cfg.TRAIN.VAL_FREQ < -1:  # an int: yacs keeps the default's type
            raise ValueError(f"TRAIN.VAL_FREQ must be a whole number >= -1 (0: val after the last epoch only, -1: never), "
                             f"got {cfg.TRAIN.VAL_FREQ!r}")
        if cfg.TEST.EVALUATOR != "Retrieval":
            raise ValueError(f"{cfg.TRAINER.NAME} is evaluated by retrieval: set TEST.EVALUATOR Retrieval "
                             f"(got {cfg.TEST.EVALUATOR!r})")

    # ---------------------------------------------------------------- building
    def load_clip(self, frozen: bool = True) -> nn.Module:
        """Resolve device and precision, then load CLIP (:func:`load_clip`); ``self.backbone``
        records its weights."""
        self.device = resolve_device(self.cfg.USE_CUDA)
        self.precision = resolve_precision(self.node().PREC, self.device)
        self.scaler = self.precision.scaler
        print(f"Running on {self.precision.describe()}")
        clip_model, self.backbone = load_clip(self.cfg, self.precision, frozen)
        return clip_model

    def build_model(self) -> None:
        """The trainer's :meth:`retrieval_model` on the configured CLIP (frozen unless
        ``FROZEN_CLIP`` is False), adopted by :meth:`setup_model`; a trainer that needs more
        (DCAR's objective, PromptSRC's frozen targets) extends it."""
        clip_model = self.load_clip(frozen=self.FROZEN_CLIP)
        self.setup_model(*self.retrieval_model(self.cfg, clip_model, self.precision))

    def setup_model(self, model: PromptedCLIP, trainable: dict[str, nn.Module],
                    strings: Sequence[str] | None = None) -> None:
        """Adopt ``model``: register each of ``trainable`` (its run-folder name -> module) with an
        optimiser and the LR schedule, tokenize the training ``strings`` once (default: the
        captions), cache what its frozen image tower computes, and build the training loader
        (without images when their features are cached)."""
        self.model = model
        for name, module in trainable.items():
            self.register_trainable(name, module)
        self.features = FeatureCache(self.cfg, model)
        items, cached = self.train_set.data_source, False
        if trainable:
            self.tokens = TokenTable([it.caption for it in items] if strings is None else strings, model.n_ctx)
            print(f"Training strings: {len(self.tokens):,} unique ({self.tokens.truncated} truncated to fit "
                  f"{77 - 2 - model.n_ctx} tokens, end-of-text kept)")
            cached = self.features.cache_train(items, self.train_set.transform)
        self.train_loader_x = train_loader(self.cfg, self.train_set, self.train_loader_x.pin_memory,
                                           with_images=not cached)

    def build_data_loader(self) -> None:
        """The engine's loaders; the training loader is replaced in :meth:`setup_model`."""
        super().build_data_loader()
        self.train_set = self.train_loader_x.dataset

    def register_trainable(self, name: str, module: nn.Module) -> None:
        """Register ``module`` with an optimiser over its trainable parameters and the LR schedule;
        log how many parameters train and under which names."""
        params = [p for p in module.parameters() if p.requires_grad]
        if not params:
            raise ValueError(f"Model {name!r} has no trainable parameters")
        dist.broadcast_parameters(params)
        self.trainable_params += params
        groups: defaultdict[str, int] = defaultdict(int)
        for pname, p in module.named_parameters():
            if p.requires_grad:
                groups[".".join(pname.split(".")[:2])] += p.numel()
        total = sum(groups.values())
        print(f"Trainable parameters of {name}: {total:,} in " + ", ".join(f"{g} ({n:,})" for g, n in groups.items()))
        optim = build_optimizer(params, self.cfg.OPTIM)
        sched = build_lr_scheduler(optim, self.cfg.OPTIM)
        self.register_model(name, module, optim, sched)

    # ---------------------------------------------------------------- training
    def forward_backward(self, batch: dict) -> dict[str, float]:
        """One L_con step: image and caption features from the model under one set of prompts,
        L_con over the global batch, the optimisation step."""
        items = [self.train_set.data_source[i] for i in batch["index"].tolist()]
        with self.precision.autocast():
            _, _, loss = self.contrastive_step(batch, items)
        self.optimisation_step(dist.scaled_for_averaging(loss), logged=loss.item())
        return {"loss": loss.item()}

    def contrastive_step(self, batch: dict, items: Sequence[Any]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Image and caption features of a training batch under one set of prompts, and L_con
        over the global batch (run under the precision's autocast)."""
        prompts = self.model.make_prompts()
        img = self.features.train_images(batch, prompts)
        txt = self.model.encode_text(self.tokens([it.caption for it in items], self.device), prompts=prompts)
        loss, _ = global_contrastive_loss(img, txt, items, self.model.logit_scale, self.node().LOSS)
        return img, txt, loss

    def optimisation_step(self, objective: torch.Tensor, logged: float) -> None:
        """Backward and optimiser step for this process's part of the global batch (``objective``
        already scaled for the average across processes), logging ``logged``; the gradients are
        averaged across processes before the step, and the LR schedule steps after the epoch's
        last batch, as Dassl's trainers do."""
        if self.step_losses is not None:
            self.step_losses.append(logged)
        if self.progress is not None:
            self.progress.update()
        self.model_zero_grad()
        self.detect_anomaly(objective)
        self.precision.backward_and_step(objective, [self._optims[n] for n in self.get_model_names()],
                                         before_step=lambda: dist.average_gradients(self.trainable_params))
        if self.batch_idx + 1 == self.num_batches:
            self.update_lr()

    # ------------------------------------------------------------ per-epoch validation, curves
    def curves_path(self) -> str:
        return os.path.join(self.output_dir, "curves.json")

    def init_writer(self, log_dir: str) -> None:
        if dist.is_main():  # only rank 0 writes TensorBoard logs
            super().init_writer(log_dir)

    def before_train(self) -> None:
        super().before_train()
        curves = []
        if os.path.isfile(self.curves_path()):  # a resumed run keeps the epochs it already has
            with open(self.curves_path(), encoding="utf-8") as f:
                curves = [c for c in json.load(f) if c["epoch"] <= self.start_epoch]
        self.curves = curves

    def before_epoch(self) -> None:
        super().before_epoch()
        self.step_losses = []
        self.epoch_lr = self.get_current_lr()
        self.progress = tqdm(total=len(self.train_loader_x), desc=f"epoch {self.epoch + 1}/{self.max_epoch}",
                             leave=False)

    def val_due(self) -> bool:
        """Whether val is evaluated after this epoch: every ``TRAIN.VAL_FREQ``-th and the last
        (a large val gallery can cost more than a short run's epochs: 0 evaluates it once, at the end).
        The last epoch is left to the final evaluation when that is on val (``TEST.SPLIT val``, as in
        a tuning trial): the same weights, evaluated once. ``-1``: never (a benchmark that reports test)."""
        done, freq, test = self.epoch + 1, self.cfg.TRAIN.VAL_FREQ, self.cfg.TEST
        if freq < 0:
            return False
        if done == self.max_epoch:
            return test.SPLIT != "val" or test.NO_TEST
        return freq > 0 and done % freq == 0

    def after_epoch(self) -> None:
        """Validate (when due), then save (engine)."""
        self.progress.close()
        self.progress = None
        record = {"epoch": self.epoch + 1, "lr": self.epoch_lr,
                  "loss": sum(self.step_losses) / max(len(self.step_losses), 1)}
        self.step_losses = None
        self.last_results.pop("val", None)
        if (self.val_loader is not None and not self.cfg.TEST.NO_TEST and self.cfg.TEST.FINAL_MODEL != "best_val"
                and self.val_due()):
            self.test(split="val")
        super().after_epoch()
        val = self.last_results.get("val")
        if val is not None:
            record.update({f"val_{k}": val[k] for k in ("i2t_R@1", "t2i_R@1", "rsum")})
        self.curves.append(record)
        if dist.is_main():
            write_atomic(self.curves_path(), json.dumps(self.curves, indent=1))

    def after_train(self) -> None:
        """Curves first, then the final test: ``results.json``, which marks a run as finished, is
        the last file a run writes."""
        if self.curves and dist.is_main():
            plot_curves(self.curves, os.path.join(self.output_dir, "curves.png"))
            print(f"Training curves drawn to {os.path.join(self.output_dir, 'curves.png')}")
        super().after_train()

    # ---------------------------------------------------------------- evaluation
    def load_model(self, directory: str, epoch: int | None = None) -> None:
        """Load weights for evaluation (engine); remember where from, for ``results.json``."""
        super().load_model(directory, epoch)
        if directory:
            self.loaded_from = directory

    def run_record(self, split: str) -> dict[str, Any]:
        """The run's identity for ``results.json``: its whole resolved config and the group it may be
        averaged in, the evaluated model's shots, the domains left out, every bad entry skipped and
        what the evaluated split's negatives are made of per domain (by kind, synonym rate)."""
        cfg, flat, dataset = self.cfg, flatten(self.cfg), self.dm.dataset
        saved = saved_config(self.loaded_from) if self.loaded_from else None
        shots = int(saved.get("DATASET.NUM_SHOTS", -1)) if saved else cfg.DATASET.NUM_SHOTS
        return {"trainer": cfg.TRAINER.NAME, "backbone": self.backbone.record(), "dataset": cfg.DATASET.NAME,
                "num_shots": shots, "seed": cfg.SEED, "method": cfg.TRAINER.NAME, "output_dir": cfg.OUTPUT_DIR,
                "eval_only": self.loaded_from is not None, "model_dir": self.loaded_from,
                "group": group_key(flat), "config": flat,
                "skipped_domains": getattr(dataset, "skipped", {}),
                "not_evaluated_domains": getattr(dataset, "not_evaluated", {}),
                "skipped_data": getattr(dataset, "problems", {}), "split": split,
                "negatives": {r.domain: r.negatives[split].summary() for r in getattr(dataset, "reports", ())
                              if split in r.negatives}}

    @torch.no_grad()
    def test(self, split: str | None = None) -> float:
        """Evaluate on ``split``; without one, this is the run's final evaluation (after training or
        with ``--eval-only``) on ``TEST.SPLIT``: with the fine-grained measures, the gallery
        picture and ``results.json``."""
        final = split is None
        split = split or self.cfg.TEST.SPLIT
        if split == "val" and self.val_loader is not None:
            loader = self.val_loader
        else:
            split, loader = "test", self.test_loader
        self.set_model_mode("eval")
        self.evaluator.reset()
        self.model.truncated_captions = 0
        print(f"Evaluate on the *{split}* set")
        items = loader.dataset.data_source
        self.evaluator.process(self.features.eval_images(split, items, loader.dataset.transform), items)
        result = self.evaluator.evaluate(self.model.encode_text, fine_grained=final and self.cfg.TEST.FINE_GRAINED)
        truncated = sum(dist.per_rank(self.model.truncated_captions))
        if truncated:
            print(f"{truncated} captions were longer than the text context and truncated (end-of-text kept)")
        for k, v in result.metrics.items():
            self.write_scalar(f"{split}/{k}", v, self.epoch)
        self.last_results[split] = result.metrics
        if final and dist.is_main():
            print(f"Results written to {write_final(self.output_dir, result, self.run_record(split))}")
        return result.metrics["rsum"]
