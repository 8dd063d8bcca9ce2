"""Dataset items and the dataset base class (docs/engine.md §4)."""
from __future__ import annotations

import os
import random
from collections import defaultdict
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
    """Holds the train_x/train_u/val/test lists; class info is derived from train_x."""

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

    def check_input_domains(self, source_domains: list[str], target_domains: list[str]) -> None:
        self.is_input_domain_valid(source_domains)
        self.is_input_domain_valid(target_domains)

    def is_input_domain_valid(self, input_domains: list[str]) -> None:
        for domain in input_domains:
            if domain not in self.domains:
                raise ValueError(f"Input domain must belong to {self.domains}, but got [{domain}]")

    def generate_fewshot_dataset(self, *data_sources: list, num_shots: int = -1, repeat: bool = False) -> Any:
        """Sample ``num_shots`` items per label from each source with Python's global ``random``."""
        if num_shots < 1:
            return data_sources[0] if len(data_sources) == 1 else data_sources
        print(f"Creating a {num_shots}-shot dataset")
        output = []
        for data_source in data_sources:
            sampled = []
            for items in self.split_dataset_by_label(data_source).values():
                if len(items) >= num_shots:
                    sampled.extend(random.sample(items, num_shots))
                else:
                    sampled.extend(random.choices(items, k=num_shots) if repeat else items)
            output.append(sampled)
        return output[0] if len(output) == 1 else output

    @staticmethod
    def split_dataset_by_label(data_source: list) -> defaultdict:
        output: defaultdict = defaultdict(list)
        for item in data_source:
            output[item.label].append(item)
        return output

    @staticmethod
    def split_dataset_by_domain(data_source: list) -> defaultdict:
        output: defaultdict = defaultdict(list)
        for item in data_source:
            output[item.domain].append(item)
        return output
