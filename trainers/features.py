"""The image-feature cache (docs/model.md, "Cached features", ``TRAINER.FEATURE_CACHE``): when a
model's image tower has nothing trainable (zero-shot CLIP, CoOp, CLIP-Adapter, DCAR without visual
prompts) its outputs are computed once per run and reused -- the val/test images' always (their
transform is fixed), the training images' when ``INPUT.TRANSFORMS`` has no random augmentation (the
training loader then yields indices only and reads no image). Image encoding
(:func:`encode_items`) is sharded across ``torchrun`` processes and gathered.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from engine import DatasetWrapper
from engine import distributed as dist

from .loaders import deterministic_train_transform
from .model import PromptedCLIP
from .prompts import Prompts


@torch.no_grad()
def encode_items(cfg: Any, items: Sequence[Any], transform: Any, encoder: Callable[[torch.Tensor], torch.Tensor],
                 desc: str, device: torch.device) -> torch.Tensor:
    """``encoder`` over the images of ``items`` [N, D] in item order, in test-size batches
    (sharded across processes and gathered). Draws nothing from the global RNG, so whether
    features are cached does not change the training batches."""
    part = [items[i] for i in dist.shard(len(items))] if len(items) >= dist.world_size() else list(items)
    loader = DataLoader(DatasetWrapper(cfg, part, transform=transform, is_train=False),
                        batch_size=cfg.DATALOADER.TEST.BATCH_SIZE, num_workers=cfg.DATALOADER.NUM_WORKERS,
                        generator=torch.Generator())
    feats = torch.cat([encoder(batch["img"].to(device)).float() for batch in tqdm(loader, desc=desc)])
    return dist.gather_rows(feats) if len(part) < len(items) else feats


class FeatureCache:
    """Image features of a run's model: from the cache when its image tower is frozen, else encoded."""

    def __init__(self, cfg: Any, model: PromptedCLIP) -> None:
        self.cfg, self.model = cfg, model
        self.enabled = bool(cfg.TRAINER.FEATURE_CACHE) and model.image_tower_frozen
        self.train: torch.Tensor | None = None
        self.eval: dict[str, torch.Tensor] = {}

    def encode(self, items: Sequence[Any], transform: Any, desc: str) -> torch.Tensor:
        """Image-tower features of ``items`` (no head)."""
        return encode_items(self.cfg, items, transform, self.model.image_tower, desc, self.model.device)

    def cache_train(self, items: Sequence[Any], transform: Any) -> bool:
        """Compute the training images' tower features once, when the tower is frozen and the
        training transform has no randomness; returns whether it did (the loader then needs no images)."""
        if not self.enabled:
            return False
        if not deterministic_train_transform(self.cfg):
            print(f"Frozen image features of the training images are recomputed every step: INPUT.TRANSFORMS "
                  f"{list(self.cfg.INPUT.TRANSFORMS)} is random (a fixed transform such as ['normalize'] caches them)")
            return False
        self.train = self.encode(items, transform, "Caching frozen training image features")
        print(f"Frozen image features of the {len(self.train):,} training images computed once and reused "
              "every epoch (TRAINER.FEATURE_CACHE; no random augmentation)")
        return True

    def train_images(self, batch: dict, prompts: Prompts | None) -> torch.Tensor:
        """The image features of a training batch under this step's ``prompts``."""
        if self.train is not None:
            tower = self.train[batch["index"].to(self.train.device)]
        else:
            tower = self.model.image_tower(batch["img"].to(self.model.device), prompts)
        return self.model.head_image(tower)

    def eval_images(self, split: str, items: Sequence[Any], transform: Any) -> torch.Tensor:
        """Image features of a split; a frozen tower's are computed once per run."""
        tower = self.eval.get(split)
        if tower is None:
            tower = self.encode(items, transform, f"Encoding {split} images")
            if self.enabled:
                self.eval[split] = tower
        return self.model.head_image(tower)
