"""A throwaway dataset and trainer for engine tests: tiny coloured images and a linear classifier
trained and tested as a CoOp-style trainer is, on the engine's classification path."""
from __future__ import annotations

import os

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from engine import (
    DATASET_REGISTRY,
    TRAINER_REGISTRY,
    DatasetBase,
    Datum,
    TrainerX,
    build_lr_scheduler,
    build_optimizer,
    compute_accuracy,
)

CLASSES = ("red", "green", "blue")


def write_toy_images(root: str, n_per_class: int = 8, size: int = 12) -> list[tuple[str, int]]:
    """Deterministic noisy images whose dominant channel is the class."""
    folder = os.path.join(root, "toy")
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(0)
    items = []
    for label in range(len(CLASSES)):
        for i in range(n_per_class):
            arr = rng.integers(0, 120, size=(size, size, 3), dtype=np.uint8)
            arr[..., label] = rng.integers(120, 256, size=(size, size), dtype=np.uint8)
            path = os.path.join(folder, f"{CLASSES[label]}_{i}.png")
            if not os.path.exists(path):
                Image.fromarray(arr).save(path)
            items.append((path, label))
    return items


@DATASET_REGISTRY.register()
class ToyColours(DatasetBase):
    def __init__(self, cfg) -> None:
        items = [Datum(impath=p, label=y, classname=CLASSES[y]) for p, y in write_toy_images(cfg.DATASET.ROOT)]
        train = [d for i, d in enumerate(items) if i % 4 != 0]
        test = [d for i, d in enumerate(items) if i % 4 == 0]
        super().__init__(train_x=train, val=test, test=test)


@TRAINER_REGISTRY.register()
class ToyTrainer(TrainerX):
    """A linear classifier written as CoOp's trainer is (``parse_batch_train``,
    ``model_backward_and_update``, the engine's classification ``test`` through ``model_inference``
    and the ``Classification`` evaluator): a trainer ported from CoOp runs on the embedded engine."""

    def build_model(self) -> None:
        self.device = torch.device("cpu")
        size = self.cfg.INPUT.SIZE
        self.model = nn.Sequential(nn.Flatten(), nn.Linear(3 * size[0] * size[1], self.num_classes))
        optim = build_optimizer(self.model.parameters(), self.cfg.OPTIM)
        self.register_model("model", self.model, optim, build_lr_scheduler(optim, self.cfg.OPTIM))

    def forward_backward(self, batch: dict) -> dict:
        image, label, _ = self.parse_batch_train(batch)
        output = self.model(image)
        loss = F.cross_entropy(output, label)
        self.model_backward_and_update(loss)
        if self.batch_idx + 1 == self.num_batches:
            self.update_lr()
        return {"loss": loss.item(), "acc": compute_accuracy(output, label)[0].item()}
