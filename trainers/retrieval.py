"""The base of the project's trainers: retrieval evaluation, frozen CLIP, the training loader,
cached frozen image features and multi-process training (docs/method.md §7).

An image goes through the trainer's ``image_tower`` (the part that does not train: the frozen
CLIP image encoder, or the prompted one) and then its ``image_head`` (a trainable adapter, or
nothing). :meth:`RetrievalTrainer.test` encodes every image of the split once and every unique
caption once (the ``Retrieval`` evaluator batches them by length), then reports the metrics.

Cached frozen features (``TRAINER.FEATURE_CACHE``): when ``image_tower`` has nothing trainable
(zero-shot CLIP, CoOp, CLIP-Adapter, DCAR without visual prompts) its outputs are computed once
per run and reused -- the val/test images' always (their transform is fixed), the training
images' when ``INPUT.TRANSFORMS`` has no random augmentation (the training loader then yields
indices only and reads no image).

Under ``torchrun`` image and caption encoding is sharded across the processes and gathered.
"""
from __future__ import annotations

import json
import os
from typing import Any, Callable, Sequence

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm import tqdm

from datasets.text import tokenize
from engine import DatasetWrapper
from engine import distributed as dist
from engine.writes import write_atomic
from evaluation.pictures import plot_curves, plot_gallery
from evaluation.retrieval import RetrievalResult
from reporting.identity import flatten, group_key, saved_config

from . import backbones
from .base import BaseTrainer
from .clip_driver import EncoderCall, assemble_text, encode_text, report
from .configs import fit_hint
from .loaders import deterministic_train_transform, train_loader
from .losses import contrastive_loss


def extend_cfg(cfg: Any) -> None:
    cfg.TRAINER.TEXT_TRIM = True  # run text encoders only up to the batch's longest caption (False: all 77 tokens)
    cfg.TRAINER.FEATURE_CACHE = True  # compute a frozen image tower's features once per run (see module doc)


def not_negative_pairs(items: list, device: torch.device) -> torch.Tensor:
    """[B, B] pairs of a batch that must not be each other's negatives: same image or same caption."""
    keys = [(it.impath, it.caption) for it in items]
    return torch.tensor([[a[0] == b[0] or a[1] == b[1] for b in keys] for a in keys], device=device)


class RetrievalTrainer(BaseTrainer):
    last_results: dict[str, dict]
    loaded_from: str | None = None  # the run folder whose weights were loaded for evaluation

    def __init__(self, cfg: Any) -> None:
        self.last_results = {}
        self.truncated_captions = 0
        self.eval_cache: dict[str, torch.Tensor] = {}
        self.train_cache: torch.Tensor | None = None
        super().__init__(cfg)
        self.cache_train_features()

    def check_cfg(self, cfg: Any) -> None:
        super().check_cfg(cfg)
        if cfg.TEST.EVALUATOR != "Retrieval":
            raise ValueError(f"{cfg.TRAINER.NAME} is evaluated by retrieval: set TEST.EVALUATOR Retrieval "
                             f"(got {cfg.TEST.EVALUATOR!r})")

    def build_data_loader(self) -> None:
        """The engine's loaders, with the training loader's batches drawn by global batch
        (:mod:`trainers.loaders`)."""
        super().build_data_loader()
        self.train_loader_x = train_loader(self.cfg, self.train_loader_x.dataset, self.train_loader_x.pin_memory)

    def build_frozen_clip(self) -> torch.nn.Module:
        """Resolve device/precision, load CLIP, freeze it and put it on the device as ``self.clip``
        (cast to the precision's frozen dtype); also sets ``self.logit_scale`` (CLIP's, frozen)."""
        self.build_precision()
        clip_model = self.load_backbone()
        self.check_input_size(clip_model.visual.input_resolution)
        clip_model.requires_grad_(False)
        self.logit_scale = float(clip_model.logit_scale.exp())
        self.clip = self.precision.cast_frozen(clip_model).to(self.device).eval()
        return self.clip

    def load_backbone(self) -> torch.nn.Module:
        """The configured CLIP in fp32 (docs/backbones.md); ``self.backbone`` records its weights."""
        self.backbone = backbones.from_cfg(self.cfg)
        return backbones.load(self.backbone)

    def check_input_size(self, resolution: int) -> None:
        size = tuple(self.cfg.INPUT.SIZE)
        if size != (resolution, resolution):
            raise ValueError(f"INPUT.SIZE {size} does not match the backbone's input resolution {resolution}; "
                             f"set INPUT.SIZE ({resolution}, {resolution}). {fit_hint(self.cfg)}")

    def parallel(self, module: torch.nn.Module) -> torch.nn.Module:
        """``module`` wrapped in DistributedDataParallel under ``torchrun``, else itself: call the
        result in training steps so that gradients are averaged across processes."""
        if not dist.is_distributed():
            return module
        return DistributedDataParallel(module, device_ids=[self.device] if self.device.type == "cuda" else None)

    def optimisation_step(self, objective: torch.Tensor, logged: float) -> None:
        """Backward and optimiser step for this process's part of the global batch (``objective``
        already scaled for the average across processes), logging ``logged``; the LR schedule
        steps after the epoch's last batch, as Dassl's trainers do."""
        self.model_backward_and_update(objective, logged=logged)
        if self.batch_idx + 1 == self.num_batches:
            self.update_lr()

    def global_contrastive_loss(self, img: torch.Tensor, txt: torch.Tensor, idx: list[int],
                                mode: str) -> tuple[torch.Tensor, int]:
        """L_con over the global batch and that batch's size: every process's features are
        gathered, gradients flow to this process's own rows (so the caller scales the loss by the
        number of processes before DDP averages the gradients). ``idx``: this process's items."""
        data = self.train_loader_x.dataset.data_source
        every = [data[i] for i in dist.gather_objects(idx)]
        loss = contrastive_loss(dist.gather_with_grad(img.float()), dist.gather_with_grad(txt.float()),
                                self.logit_scale, not_negative_pairs(every, self.device), mode)
        return loss, len(every)

    # ---------------------------------------------------------------- encoders
    def frozen_image(self, images: torch.Tensor) -> torch.Tensor:
        """fp32 features of the frozen, unprompted CLIP image encoder."""
        with torch.no_grad(), self.precision.autocast():
            out = self.clip.encode_image(images.to(self.device).to(self.precision.frozen_dtype))
        report(EncoderCall("image", images, out))
        return out.float()

    def frozen_text(self, ids: torch.Tensor) -> torch.Tensor:
        """fp32 features of the frozen, unprompted CLIP text encoder (up to the longest caption)."""
        with torch.no_grad(), self.precision.autocast():
            return self.text_transformer(*assemble_text(self.clip, ids, None)).float()

    def text_transformer(self, x: torch.Tensor, eot: torch.Tensor, deep: Sequence[torch.Tensor] = ()) -> torch.Tensor:
        """CLIP's text transformer over assembled embeddings with the run's padding policy:
        ``TRAINER.TEXT_TRIM`` runs length groups each up to its longest caption, else all 77 tokens."""
        trim = self.cfg.TRAINER.TEXT_TRIM
        overhead = self.precision.text_group_overhead if trim else None
        return encode_text(self.clip, x, eot, deep, trim=trim, group_overhead=overhead)

    def image_tower_is_frozen(self) -> bool:
        """Whether :meth:`image_tower` has no trainable part (its features can then be cached)."""
        return True

    def image_tower(self, images: torch.Tensor) -> torch.Tensor:
        """The image path up to its first trainable module (fp32 features)."""
        return self.frozen_image(images)

    def image_head(self, feats: torch.Tensor) -> torch.Tensor:
        """The trainable rest of the image path after :meth:`image_tower` (none by default)."""
        return feats

    def encode_images(self, images: torch.Tensor) -> torch.Tensor:
        return self.image_head(self.image_tower(images))

    def encode_texts(self, captions: list[str]) -> torch.Tensor:
        raise NotImplementedError

    def tokenize(self, captions: list[str], reserved: int = 0) -> torch.Tensor:
        """Token ids on the device; truncations are counted for the log."""
        ids, truncated = tokenize(captions, reserved=reserved)
        self.truncated_captions += truncated
        return ids.to(self.device)

    @torch.no_grad()
    def encode_items(self, items: Sequence[Any], transform: Any, encoder: Callable[[torch.Tensor], torch.Tensor],
                     desc: str) -> torch.Tensor:
        """``encoder`` over the images of ``items`` [N, D] in item order, in test-size batches
        (sharded across processes and gathered). Draws nothing from the global RNG, so whether
        features are cached does not change the training batches."""
        part = [items[i] for i in dist.shard(len(items))] if len(items) >= dist.world_size() else list(items)
        loader = DataLoader(DatasetWrapper(self.cfg, part, transform=transform, is_train=False),
                            batch_size=self.cfg.DATALOADER.TEST.BATCH_SIZE, num_workers=self.cfg.DATALOADER.NUM_WORKERS,
                            generator=torch.Generator())
        feats = torch.cat([encoder(batch["img"].to(self.device)).float() for batch in tqdm(loader, desc=desc)])
        return dist.gather_rows(feats) if len(part) < len(items) else feats

    # ---------------------------------------------------------------- cached frozen features
    def caching(self) -> bool:
        return self.cfg.TRAINER.FEATURE_CACHE and self.image_tower_is_frozen()

    def cache_train_features(self) -> None:
        """With a frozen image tower and no random augmentation, compute the training images'
        tower features once; the training loader then yields indices only."""
        if not self.caching():
            return
        if not deterministic_train_transform(self.cfg):
            print(f"Frozen image features of the training images are recomputed every step: INPUT.TRANSFORMS "
                  f"{list(self.cfg.INPUT.TRANSFORMS)} is random (a fixed transform such as ['normalize'] caches them)")
            return
        data = self.train_loader_x.dataset
        self.train_cache = self.encode_items(data.data_source, data.transform, self.image_tower,
                                             "Caching frozen training image features")
        print(f"Frozen image features of the {len(self.train_cache):,} training images computed once and reused "
              "every epoch (TRAINER.FEATURE_CACHE; no random augmentation)")
        self.train_loader_x = train_loader(self.cfg, data, pin_memory=False, with_images=False)

    def train_image_tower(self, batch: dict) -> torch.Tensor:
        """:meth:`image_tower` of a training batch, from the cache when there is one."""
        if self.train_cache is not None:
            return self.train_cache[batch["index"].to(self.train_cache.device)]
        return self.image_tower(batch["img"].to(self.device))

    def eval_image_features(self, split: str, items: Sequence[Any], transform: Any) -> torch.Tensor:
        """Features of a split's images; a frozen tower's are computed once per run."""
        tower = self.eval_cache.get(split)
        if tower is None:
            tower = self.encode_items(items, transform, self.image_tower, f"Encoding {split} images")
            if self.caching():
                self.eval_cache[split] = tower
        return self.image_head(tower)

    # ------------------------------------------------------------ per-epoch validation, curves, pictures
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

    def after_epoch(self) -> None:
        """Validate on the train split's held-out part after every epoch, then save (engine)."""
        self.progress.close()
        self.progress = None
        record = {"epoch": self.epoch + 1, "lr": self.epoch_lr,
                  "loss": sum(self.step_losses) / max(len(self.step_losses), 1)}
        self.step_losses = None
        self.last_results.pop("val", None)
        if self.val_loader is not None and not self.cfg.TEST.NO_TEST and self.cfg.TEST.FINAL_MODEL != "best_val":
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

    def write_results(self, result: RetrievalResult, split: str) -> str:
        """``results.json`` (atomically): the metrics, per-domain metrics, gallery sizes and each
        query's rank, with the run's identity (its whole resolved config and the group it may be
        averaged in), the domains left out and every bad entry and image skipped. Returns the path."""
        cfg, flat, dataset = self.cfg, flatten(self.cfg), self.dm.dataset
        record = {
            "metrics": result.metrics, "per_domain": result.per_domain, "domains": list(result.per_domain),
            "sizes": result.sizes, "duplicate_captions": sum(s["duplicate_captions"] for s in result.sizes.values()),
            "trainer": cfg.TRAINER.NAME, "backbone": self.backbone.record(), "dataset": cfg.DATASET.NAME,
            "num_shots": self.model_shots(), "seed": cfg.SEED, "ks": list(result.ks), "item_ranks": result.item_ranks,
            "method": cfg.TRAINER.NAME, "output_dir": cfg.OUTPUT_DIR,
            "eval_only": self.loaded_from is not None, "model_dir": self.loaded_from,
            "group": group_key(flat), "config": flat,
            "skipped_domains": getattr(dataset, "skipped", {}),
            "not_evaluated_domains": getattr(dataset, "not_evaluated", {}),
            "skipped_data": getattr(dataset, "problems", {}),
            "split": split,
        }
        path = os.path.join(self.output_dir, "results.json")
        write_atomic(path, json.dumps(record, indent=2))
        return path

    def model_shots(self) -> int:
        """The shots the evaluated model was trained with: this run's, or for a model loaded from
        another run folder, that run's ``DATASET.NUM_SHOTS`` (an evaluation's own config says -1)."""
        saved = saved_config(self.loaded_from) if self.loaded_from else None
        return int(saved.get("DATASET.NUM_SHOTS", -1)) if saved else self.cfg.DATASET.NUM_SHOTS

    def load_model(self, directory: str, epoch: int | None = None) -> None:
        """Load weights for evaluation (engine); remember where from, for ``results.json``."""
        super().load_model(directory, epoch)
        if directory:
            self.loaded_from = directory

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
        self.truncated_captions = 0
        print(f"Evaluate on the *{split}* set")
        items = loader.dataset.data_source
        self.evaluator.process(self.eval_image_features(split, items, loader.dataset.transform), items)
        result = self.evaluator.evaluate(self.encode_texts, fine_grained=final)
        results = result.metrics
        truncated = sum(dist.per_rank(self.truncated_captions))
        if truncated:
            print(f"{truncated} captions were longer than the text context and truncated (end-of-text kept)")
        for k, v in results.items():
            self.write_scalar(f"{split}/{k}", v, self.epoch)
        self.last_results[split] = results
        if final and dist.is_main():
            os.makedirs(self.output_dir, exist_ok=True)
            path = os.path.join(self.output_dir, "gallery.png")
            plot_gallery(result.snapshot, path)
            print(f"Retrieval gallery drawn to {path}")
            print(f"Results written to {self.write_results(result, split)}")
        return results["rsum"]
