"""Evaluators (docs/engine.md §5): the registry and the base class (the project registers its
own; Dassl's Classification is not carried)."""
from __future__ import annotations

from collections import OrderedDict
from typing import Any

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
