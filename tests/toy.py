"""A throwaway dataset, trainer and evaluator for engine tests: tiny coloured images, a linear
classifier, its accuracy (the trainer brings its own test: the engine has no classification path)."""
from __future__ import annotations

import os
from collections import OrderedDict

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from engine import (
    DATASET_REGISTRY,
    EVALUATOR_REGISTRY,
    TRAINER_REGISTRY,
    DatasetBase,
    Datum,
    EvaluatorBase,
    TrainerX,
    build_lr_scheduler,
    build_optimizer,
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
    """A linear classifier on the engine's own loop (CPU, fp32)."""

    def build_model(self) -> None:
        self.device = torch.device("cpu")
        size = self.cfg.INPUT.SIZE
        self.model = nn.Sequential(nn.Flatten(), nn.Linear(3 * size[0] * size[1], self.num_classes))
        optim = build_optimizer(self.model.parameters(), self.cfg.OPTIM)
        self.register_model("model", self.model, optim, build_lr_scheduler(optim, self.cfg.OPTIM))

    def forward_backward(self, batch: dict) -> dict:
        img, label = batch["img"].to(self.device), batch["label"].to(self.device)
        loss = F.cross_entropy(self.model(img), label)
        self.model_backward_and_update(loss)
        if self.batch_idx + 1 == self.num_batches:
            self.update_lr()
        return {"loss": loss.item()}

    @torch.no_grad()
    def test(self, split: str | None = None) -> float:
        """Accuracy on ``split`` (the engine carries no classification test)."""
        self.set_model_mode("eval")
        self.evaluator.reset()
        loader = self.val_loader if (split or self.cfg.TEST.SPLIT) == "val" else self.test_loader
        for batch in loader:
            self.evaluator.process(self.model(batch["img"].to(self.device)), batch["label"].to(self.device))
        return self.evaluator.evaluate()["accuracy"]


@EVALUATOR_REGISTRY.register()
class ToyAccuracy(EvaluatorBase):
    """Top-1 accuracy in percent (the engine carries no classification evaluator)."""

    def __init__(self, cfg, **kwargs) -> None:
        super().__init__(cfg)
        self.reset()

    def reset(self) -> None:
        self.correct, self.total = 0, 0

    def process(self, mo: torch.Tensor, gt: torch.Tensor) -> None:
        self.correct += int((mo.argmax(1) == gt).sum())
        self.total += len(gt)

    def evaluate(self) -> OrderedDict:
        accuracy = 100.0 * self.correct / max(self.total, 1)
        print(f"* accuracy: {accuracy:.1f}%")
        return OrderedDict(accuracy=accuracy)
