"""Evaluators (docs/engine.md §5): the registry, the base class and Dassl's Classification."""
from __future__ import annotations

import os
from collections import OrderedDict
from typing import Any

import numpy as np
import torch

from .registry import Registry, build_from_registry

EVALUATOR_REGISTRY = Registry("EVALUATOR")


def build_evaluator(cfg: Any, **kwargs: Any) -> Any:
    return build_from_registry(EVALUATOR_REGISTRY, cfg.TEST.EVALUATOR, "evaluator", cfg.VERBOSE, cfg=cfg, **kwargs)


def compute_accuracy(output: Any, target: torch.Tensor, topk: tuple = (1,)) -> list[torch.Tensor]:
    """Top-k accuracies in percent, each a one-element tensor."""
    if isinstance(output, (tuple, list)):
        output = output[0]
    maxk = max(topk)
    pred = output.topk(maxk, 1, True, True)[1].t()
    correct = pred.eq(target.view(1, -1).expand_as(pred))
    return [correct[:k].reshape(-1).float().sum(0, keepdim=True) * (100.0 / target.size(0)) for k in topk]


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Macro F1 over the labels present in ``y_true`` (zero for a label never predicted right)."""
    scores = []
    for label in np.unique(y_true):
        tp = np.sum((y_pred == label) & (y_true == label))
        fp = np.sum((y_pred == label) & (y_true != label))
        fn = np.sum((y_pred != label) & (y_true == label))
        scores.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores)) if scores else 0.0


class EvaluatorBase:
    def __init__(self, cfg: Any) -> None:
        self.cfg = cfg

    def reset(self) -> None:
        raise NotImplementedError

    def process(self, mo: Any, gt: Any) -> None:
        raise NotImplementedError

    def evaluate(self) -> OrderedDict:
        raise NotImplementedError


@EVALUATOR_REGISTRY.register()
class Classification(EvaluatorBase):
    """Accuracy, error rate and macro F1, printed in Dassl's format."""

    def __init__(self, cfg: Any, lab2cname: dict | None = None, **kwargs: Any) -> None:
        super().__init__(cfg)
        self._lab2cname = lab2cname
        self._per_class = cfg.TEST.PER_CLASS_RESULT
        if self._per_class and lab2cname is None:
            raise ValueError("TEST.PER_CLASS_RESULT needs lab2cname")
        self.reset()

    def reset(self) -> None:
        self._correct = 0
        self._total = 0
        self._y_true: list[int] = []
        self._y_pred: list[int] = []

    def process(self, mo: torch.Tensor, gt: torch.Tensor) -> None:
        pred = mo.max(1)[1]
        self._correct += int(pred.eq(gt).sum().item())
        self._total += gt.shape[0]
        self._y_true.extend(gt.tolist())
        self._y_pred.extend(pred.tolist())

    def evaluate(self) -> OrderedDict:
        y_true, y_pred = np.array(self._y_true), np.array(self._y_pred)
        acc = 100.0 * self._correct / max(self._total, 1)
        results = OrderedDict(accuracy=acc, error_rate=100.0 - acc, macro_f1=100.0 * macro_f1(y_true, y_pred))
        print(
            f"=> result\n* total: {self._total:,}\n* correct: {self._correct:,}\n"
            f"* accuracy: {acc:.1f}%\n* error: {100.0 - acc:.1f}%\n* macro_f1: {results['macro_f1']:.1f}%"
        )
        if self._per_class:
            print("=> per-class result")
            accs = []
            for label in sorted(set(self._y_true)):
                mask = y_true == label
                n, c = int(mask.sum()), int((y_pred[mask] == label).sum())
                accs.append(100.0 * c / n)
                name = self._lab2cname[label]
                print(f"* class: {label} ({name})\ttotal: {n:,}\tcorrect: {c:,}\tacc: {accs[-1]:.1f}%")
            results["perclass_accuracy"] = float(np.mean(accs))
            print(f"* average: {results['perclass_accuracy']:.1f}%")
        if self.cfg.TEST.COMPUTE_CMAT:
            labels = np.unique(np.concatenate([y_true, y_pred]))
            cmat = np.zeros((len(labels), len(labels)))
            index = {label: i for i, label in enumerate(labels)}
            for t, p in zip(y_true, y_pred):
                cmat[index[t], index[p]] += 1
            cmat /= np.maximum(cmat.sum(axis=1, keepdims=True), 1)
            path = os.path.join(self.cfg.OUTPUT_DIR, "cmat.pt")
            torch.save(torch.from_numpy(cmat), path)
            print(f"Confusion matrix is saved to {path}")
        return results
