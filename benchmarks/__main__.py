"""The FDRDSynth studies from one entry point (docs/results.md, "Studies"):

    python -m benchmarks list                      # each study: what it answers, what it reads, its report, its cost
    python -m benchmarks run STUDY [OPTIONS ...]   # the study (its own options; --quick: the tiny setting)
    python -m benchmarks report STUDY [OPTIONS ...]  # its report again from finished runs and records, making none

``run`` first runs each study it reads whose committed report is missing. The micro-benchmarks
(``speed``, ``flops``, ``retrieval_eval``, ``negatives``, ``dtr_roles``) are scripts of their own.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Each study and the studies whose committed reports it reads (their choices: the val gallery's
# size, the tuned configs, the benchmark's runs and protocol rows), in the order they were made.
STUDIES: dict[str, tuple[str, ...]] = {
    "val_size": (),
    "tuning": ("val_size",),
    "synthetic_benchmark": ("val_size", "tuning"),
    "loss_round": ("tuning", "synthetic_benchmark"),
    "dcar_choices": ("synthetic_benchmark",),
}


def study_module(name: str):  # noqa: ANN201 - a study module
    return importlib.import_module(f"benchmarks.{name}")


def describe(name: str) -> dict:
    """What ``list`` shows of a study: its question (the docstring's first sentence), what it
    reads, its report files and, from its committed report, its cost."""
    module = study_module(name)
    defaults = module.arguments()
    first = " ".join(module.__doc__.split("\n\n")[0].split())
    report = defaults.get_default("json")
    cost = ""
    if os.path.isfile(report):
        with open(report, encoding="utf-8") as f:
            data = json.load(f)
        if data.get("runs_time_s"):
            cost = f"{data['runs_time_s'] / 60:.0f} core-minutes of runs ({data.get('runs', '?')} runs)"
        elif data.get("runtime_s"):
            cost = f"{data['runtime_s'] / 60:.0f} minutes' wall time (its runs' own time was not recorded)"
    return {"study": name, "question": first, "reads": ", ".join(STUDIES[name]) or "-",
            "report": os.path.relpath(defaults.get_default("out"), ROOT), "cost": cost or "not recorded"}


def run(name: str, options: list[str], done: set[str]) -> int:
    """``python benchmarks/<name>.py options``, after the studies it reads that have no report."""
    for need in STUDIES[name]:
        if need not in done and not os.path.isfile(study_module(need).arguments().get_default("json")):
            print(f"{name} reads {need}'s report, which is missing: running {need} first", flush=True)
            if run(need, [], done):
                return 1
    done.add(name)
    return subprocess.run([sys.executable, os.path.join("benchmarks", f"{name}.py"), *options], cwd=ROOT).returncode


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=("list", "run", "report"))
    p.add_argument("study", nargs="?", choices=list(STUDIES))
    p.add_argument("options", nargs=argparse.REMAINDER, help="the study's own options")
    a = p.parse_args(argv)
    if a.command == "list":
        for row in map(describe, STUDIES):
            print(f"{row['study']}: {row['question']}\n    reads: {row['reads']}; report: {row['report']}; "
                  f"cost: {row['cost']}")
        return 0
    if a.study is None:
        p.error(f"{a.command} needs a STUDY: one of {', '.join(STUDIES)}")
    if a.command == "report":
        return run(a.study, [*a.options, "--from-records"], set(STUDIES))
    return run(a.study, a.options, set())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
