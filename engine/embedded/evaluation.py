"""Evaluators (docs/engine.md, "Evaluation"): the registry, the base class and Dassl's
``Classification`` (accuracy, error and macro-F1 of a classifier's logits), which a ported
CoOp-style trainer evaluates with; the project's trainers register and use ``Retrieval``."""
from __future__ import annotations

import os
from collections import OrderedDict
from typing import Any

import torch

from .registry import Registry, build_from_registry

EVALUATOR_REGISTRY = Registry("EVALUATOR")


def build_evaluator(cfg: Any, **kwargs: Any) -> Any:
    return build_from_registry(EVALUATOR_REGISTRY, cfg.TEST.EVALUATOR, "evaluator", cfg.VERBOSE, cfg=cfg, **kwargs)


class EvaluatorBase:
    def __init__(self, cfg: Any) -> None:
        self.cfg = cfg

    def reset(self) -> None:
        raise NotImplementedError

    def process(self, mo: Any, gt: Any) -> None:
        raise NotImplementedError

    def evaluate(self) -> OrderedDict:
        raise NotImplementedError


def compute_accuracy(output: torch.Tensor, target: torch.Tensor, topk: tuple[int, ...] = (1,)) -> list[torch.Tensor]:
    """Top-k accuracies in percent of logits ``output`` [B, C] for labels ``target`` [B] (Dassl's
    ``dassl.metrics.compute_accuracy``, which CoOp-style trainers log)."""
    top = output.topk(max(topk), dim=1).indices
    hit = top == target[:, None]
    return [hit[:, :k].any(1).float().mean() * 100.0 for k in topk]


def macro_f1(y_true: torch.Tensor, y_pred: torch.Tensor) -> float:
    """Mean F1 over the classes present in ``y_true`` (in percent), as scikit-learn's macro average
    with ``labels`` the true classes: per class 2 TP / (2 TP + FP + FN)."""
    scores = []
    for c in torch.unique(y_true):
        tp = int(((y_pred == c) & (y_true == c)).sum())
        wrong = int(((y_pred == c) != (y_true == c)).sum())  # FP + FN
        scores.append(2 * tp / (2 * tp + wrong) if tp or wrong else 0.0)
    return 100.0 * sum(scores) / max(len(scores), 1)


@EVALUATOR_REGISTRY.register()
class Classification(EvaluatorBase):
    """Top-1 accuracy, error and macro-F1 over the processed batches (logits ``mo`` [B, C], labels
    ``gt`` [B]); with ``TEST.PER_CLASS_RESULT`` each class's accuracy, with ``TEST.COMPUTE_CMAT``
    the confusion matrix (rows: true class, normalised) saved to ``OUTPUT_DIR/cmat.pt``."""

    def __init__(self, cfg: Any, lab2cname: dict[int, str] | None = None, **kwargs: Any) -> None:
        super().__init__(cfg)
        self.lab2cname = lab2cname or {}
        self.reset()

    def reset(self) -> None:
        self.y_true: list[torch.Tensor] = []
        self.y_pred: list[torch.Tensor] = []

    def process(self, mo: torch.Tensor, gt: torch.Tensor) -> None:
        self.y_pred.append(mo.argmax(1).cpu())
        self.y_true.append(gt.cpu())

    def evaluate(self) -> OrderedDict:
        if not self.y_true:
            raise ValueError("Classification.evaluate: no batch was processed (is the evaluated split empty?)")
        y_true, y_pred = torch.cat(self.y_true), torch.cat(self.y_pred)
        correct, total = int((y_true == y_pred).sum()), len(y_true)
        accuracy = 100.0 * correct / total
        results = OrderedDict(accuracy=accuracy, error=100.0 - accuracy, macro_f1=macro_f1(y_true, y_pred))
        print(f"=> result\n* total: {total:,}\n* correct: {correct:,}\n* accuracy: {accuracy:.1f}%\n"
              f"* error: {100.0 - accuracy:.1f}%\n* macro_f1: {results['macro_f1']:.1f}%")
        classes = torch.unique(y_true).tolist()
        if self.cfg.TEST.PER_CLASS_RESULT:
            per_class = {c: 100.0 * float((y_pred[y_true == c] == c).float().mean()) for c in classes}
            for c, acc in per_class.items():
                print(f"* class: {c} ({self.lab2cname.get(c, c)})\taccuracy: {acc:.1f}%")
            results["perclass_accuracy"] = sum(per_class.values()) / len(per_class)
            print(f"* average: {results['perclass_accuracy']:.1f}%")
        if self.cfg.TEST.COMPUTE_CMAT:
            n = int(max(y_true.max(), y_pred.max())) + 1
            cmat = torch.zeros(n, n).index_put_((y_true, y_pred), torch.ones(total), accumulate=True)
            cmat = cmat / cmat.sum(1, keepdim=True).clamp(min=1)
            path = os.path.join(self.cfg.OUTPUT_DIR, "cmat.pt")
            torch.save(cmat, path)
            print(f"Confusion matrix is saved to {path}")
        return results
