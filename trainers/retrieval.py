"""Evaluation by image-text retrieval for the project's trainers (issue: retrieval evaluation).

Subclasses provide ``encode_images`` and ``encode_texts``; :meth:`RetrievalTrainer.test` encodes
every image of the split once (the test loader's batches) and every unique caption once (the
``Retrieval`` evaluator batches them by length), then reports the metrics.
"""
from __future__ import annotations

from typing import Any

import torch
from tqdm import tqdm

from datasets.text import tokenize

from .backbone import load_clip_from_cfg
from .base import BaseTrainer


def not_negative_pairs(items: list, device: torch.device) -> torch.Tensor:
    """[B, B] pairs of a batch that must not be each other's negatives: same image or same caption."""
    keys = [(it.impath, it.caption) for it in items]
    return torch.tensor([[a[0] == b[0] or a[1] == b[1] for b in keys] for a in keys], device=device)


class RetrievalTrainer(BaseTrainer):
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

    def encode_images(self, images: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def encode_texts(self, captions: list[str]) -> torch.Tensor:
        raise NotImplementedError

    def tokenize(self, captions: list[str], reserved: int = 0) -> torch.Tensor:
        """Token ids on the device; truncations are counted for the log."""
        ids, truncated = tokenize(captions, reserved=reserved)
        self.truncated_captions = getattr(self, "truncated_captions", 0) + truncated
        return ids.to(self.device)

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
        return results["rsum"]
