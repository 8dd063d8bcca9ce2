"""Evaluation by image-text retrieval for the project's trainers (issue: retrieval evaluation).

Subclasses provide ``encode_images`` and ``encode_texts``; :meth:`RetrievalTrainer.test` encodes
every image of the split once (the test loader's batches) and every unique caption once (the
``Retrieval`` evaluator batches them by length), then reports the metrics.
"""
from __future__ import annotations

import json
import os
from typing import Any

import torch
from tqdm import tqdm

from evaluation.pictures import plot_curves, plot_gallery

from datasets.text import tokenize

from .backbone import load_clip_from_cfg
from .base import BaseTrainer


def not_negative_pairs(items: list, device: torch.device) -> torch.Tensor:
    """[B, B] pairs of a batch that must not be each other's negatives: same image or same caption."""
    keys = [(it.impath, it.caption) for it in items]
    return torch.tensor([[a[0] == b[0] or a[1] == b[1] for b in keys] for a in keys], device=device)


class RetrievalTrainer(BaseTrainer):
    last_results: dict[str, dict]

    def __init__(self, cfg: Any) -> None:
        self.last_results = {}
        self.truncated_captions = 0
        super().__init__(cfg)

    def check_cfg(self, cfg: Any) -> None:
        super().check_cfg(cfg)
        if cfg.TEST.EVALUATOR != "Retrieval":
            raise ValueError(f"{cfg.TRAINER.NAME} is evaluated by retrieval: set TEST.EVALUATOR Retrieval "
                             f"(got {cfg.TEST.EVALUATOR!r})")

    def build_frozen_clip(self) -> torch.nn.Module:
        """Resolve device/precision, load CLIP, freeze it and put it on the device as ``self.clip``
        (cast to the precision's frozen dtype); also sets ``self.logit_scale`` (CLIP's, frozen)."""
        self.build_precision()
        clip_model = load_clip_from_cfg(self.cfg)
        self.check_input_size(clip_model.visual.input_resolution)
        clip_model.requires_grad_(False)
        self.logit_scale = float(clip_model.logit_scale.exp())
        self.clip = self.precision.cast_frozen(clip_model).to(self.device).eval()
        return self.clip

    def check_input_size(self, resolution: int) -> None:
        size = tuple(self.cfg.INPUT.SIZE)
        if size != (resolution, resolution):
            raise ValueError(f"INPUT.SIZE {size} does not match the backbone's input resolution {resolution}; "
                             f"set INPUT.SIZE ({resolution}, {resolution})")

    def frozen_image(self, images: torch.Tensor) -> torch.Tensor:
        """fp32 features of the frozen, unprompted CLIP image encoder."""
        with torch.no_grad(), self.precision.autocast():
            return self.clip.encode_image(images.to(self.device).to(self.precision.frozen_dtype)).float()

    def frozen_text(self, ids: torch.Tensor) -> torch.Tensor:
        """fp32 features of the frozen, unprompted CLIP text encoder."""
        with torch.no_grad(), self.precision.autocast():
            return self.clip.encode_text(ids).float()

    def encode_images(self, images: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def encode_texts(self, captions: list[str]) -> torch.Tensor:
        raise NotImplementedError

    def tokenize(self, captions: list[str], reserved: int = 0) -> torch.Tensor:
        """Token ids on the device; truncations are counted for the log."""
        ids, truncated = tokenize(captions, reserved=reserved)
        self.truncated_captions += truncated
        return ids.to(self.device)

    # ------------------------------------------------------------ per-epoch validation, curves, pictures
    def curves_path(self) -> str:
        return os.path.join(self.output_dir, "curves.json")

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
        self.progress = tqdm(total=len(self.train_loader_x), desc=f"epoch {self.epoch + 1}/{self.max_epoch}", leave=False)

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
        with open(self.curves_path(), "w", encoding="utf-8") as f:
            json.dump(self.curves, f, indent=1)

    def after_train(self) -> None:
        super().after_train()
        if self.curves:
            plot_curves(self.curves, os.path.join(self.output_dir, "curves.png"))
            print(f"Training curves drawn to {os.path.join(self.output_dir, 'curves.png')}")

    def result_info(self) -> dict[str, Any]:
        return {"method": self.cfg.TRAINER.NAME, "output_dir": self.cfg.OUTPUT_DIR}

    @torch.no_grad()
    def test(self, split: str | None = None) -> float:
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
        for batch in tqdm(loader, desc=f"Encoding {split} images"):
            feats = self.encode_images(batch["img"].to(self.device))
            self.evaluator.process(feats, [items[i] for i in batch["index"].tolist()])
        results = self.evaluator.evaluate(self.encode_texts, split=split, extra=self.result_info())
        if self.truncated_captions:
            print(f"{self.truncated_captions} captions were longer than the text context and truncated (end-of-text kept)")
        for k, v in results.items():
            self.write_scalar(f"{split}/{k}", v, self.epoch)
        self.last_results[split] = results
        if split == "test":
            path = os.path.join(self.output_dir, "gallery.png")
            plot_gallery(self.evaluator.last, path)
            print(f"Retrieval gallery drawn to {path}")
        return results["rsum"]
