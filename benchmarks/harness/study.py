"""What a study is, declared before it runs (docs/results.md, "Studies"): its question, rows, seeds,
data draws, split, comparisons, rule and the studies whose reports it reads. Every module of
``benchmarks/studies`` with a ``STUDY`` is a study (found, not listed by hand); ``python -m
benchmarks list`` prints these declarations, ``run`` and ``report`` call the module's ``main``."""
from __future__ import annotations

import importlib
import json
import os
import pkgutil
from dataclasses import dataclass
from types import ModuleType


@dataclass(frozen=True)
class Study:
    """One study's declaration (each field a sentence or a short list, as ``list`` prints it)."""

    name: str
    question: str
    rows: tuple[str, ...]  # what each row trains or evaluates
    seeds: tuple[int, ...]
    data_seeds: tuple[int, ...]  # FDRDSynth draws
    split: str  # what is chosen on val and what is reported on test
    comparisons: str
    rule: str
    needs: tuple[str, ...] = ()  # the studies whose committed reports it reads

    def module(self) -> ModuleType:
        return importlib.import_module(f"benchmarks.studies.{self.name}")

    def report_paths(self) -> tuple[str, str]:
        """Its committed report: (Markdown, JSON)."""
        defaults = self.module().arguments()
        return defaults.get_default("out"), defaults.get_default("json")

    def cost(self) -> str:
        """What its committed report says its runs cost."""
        path = self.report_paths()[1]
        if not os.path.isfile(path):
            return "not run yet"
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        if data.get("runs_time_s"):
            return f"{data['runs_time_s'] / 60:.0f} core-minutes of runs ({data.get('runs', '?')} runs)"
        return "not recorded"


def studies() -> dict[str, Study]:
    """Every study, each after the studies it reads."""
    import benchmarks.studies as package

    found = {}
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"benchmarks.studies.{info.name}")
        if isinstance(getattr(module, "STUDY", None), Study):
            if module.STUDY.name != info.name:
                raise ValueError(f"benchmarks/studies/{info.name}.py declares STUDY named {module.STUDY.name!r}: "
                                 f"name it {info.name!r}, as its module")
            found[info.name] = module.STUDY
    ordered: dict[str, Study] = {}

    def place(name: str, path: tuple[str, ...] = ()) -> None:
        if name in ordered:
            return
        if name in path or name not in found:
            raise ValueError(f"study {path[-1] if path else name} reads {name}, which "
                             + ("reads it back (a cycle)" if name in path else "is no study"))
        for need in found[name].needs:
            place(need, (*path, name))
        ordered[name] = found[name]

    for name in sorted(found):
        place(name)
    return ordered
