"""Dataset items and the dataset base class (docs/engine.md, "Data")."""
from __future__ import annotations

import os
from typing import Any

from ..registry import Registry, build_from_registry

DATASET_REGISTRY = Registry("DATASET")


def build_dataset(cfg: Any) -> Any:
    return build_from_registry(DATASET_REGISTRY, cfg.DATASET.NAME, "dataset", cfg.VERBOSE, cfg=cfg)


class Datum:
    """One labelled image. Attribute names match Dassl's so pickled items stay interchangeable."""

    def __init__(self, impath: str = "", label: int = 0, domain: int = 0, classname: str = "") -> None:
        if not isinstance(impath, str):
            raise TypeError(f"Datum impath must be a str, got {type(impath).__name__}")
        if not os.path.isfile(impath):
            raise FileNotFoundError(f'No file found at "{impath}"')
        self._impath = impath
        self._label = label
        self._domain = domain
        self._classname = classname

    @property
    def impath(self) -> str:
        return self._impath

    @property
    def label(self) -> int:
        return self._label

    @property
    def domain(self) -> int:
        return self._domain

    @property
    def classname(self) -> str:
        return self._classname


class DatasetBase:
    """Holds the train_x/train_u/val/test lists; class info is derived from train_x. Dassl's
    few-shot and domain helpers are not carried: the project's datasets sample their own shots."""

    dataset_dir = ""
    domains: list[str] = []

    def __init__(self, train_x: list | None = None, train_u: list | None = None, val: list | None = None, test: list | None = None) -> None:
        self._train_x = train_x
        self._train_u = train_u
        self._val = val
        self._test = test
        self._num_classes = self.get_num_classes(train_x)
        self._lab2cname, self._classnames = self.get_lab2cname(train_x)

    @property
    def train_x(self) -> list | None:
        return self._train_x

    @property
    def train_u(self) -> list | None:
        return self._train_u

    @property
    def val(self) -> list | None:
        return self._val

    @property
    def test(self) -> list | None:
        return self._test

    @property
    def lab2cname(self) -> dict[int, str]:
        return self._lab2cname

    @property
    def classnames(self) -> list[str]:
        return self._classnames

    @property
    def num_classes(self) -> int:
        return self._num_classes

    @staticmethod
    def get_num_classes(data_source: list | None) -> int:
        """``max(label) + 1`` (Dassl's definition, not a count)."""
        if not data_source:
            return 0
        return max(item.label for item in data_source) + 1

    @staticmethod
    def get_lab2cname(data_source: list | None) -> tuple[dict[int, str], list[str]]:
        mapping = {item.label: item.classname for item in data_source or []}
        labels = sorted(mapping)
        return {label: mapping[label] for label in labels}, [mapping[label] for label in labels]
