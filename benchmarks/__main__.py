"""The FDRDSynth studies from one entry point (docs/results.md, "Studies"):

    python -m benchmarks list                        # each study's declaration: question, rows, seeds, rule, needs, cost
    python -m benchmarks run STUDY [OPTIONS ...]     # the study (its own options; --quick: the tiny setting)
    python -m benchmarks report STUDY [OPTIONS ...]  # its report again from finished runs and records, making none

``run`` first runs each study it reads whose committed report is missing. The micro-benchmarks
(speed, FLOPs, retrieval evaluation, negatives, DTR's token roles) are scripts of their own, in
``benchmarks/micro``.
"""
from __future__ import annotations

import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from benchmarks.harness.study import Study, studies  # noqa: E402


def describe(study: Study) -> str:
    """The declaration as ``list`` prints it."""
    out, _ = study.report_paths()
    rows = ", ".join(study.rows[:6]) + (f" and {len(study.rows) - 6} more" if len(study.rows) > 6 else "")
    return "\n".join([
        f"{study.name}: {study.question}",
        f"    rows ({len(study.rows)}): {rows}",
        f"    seeds {', '.join(map(str, study.seeds))}; data seeds {', '.join(map(str, study.data_seeds))}; {study.split}",
        f"    compares: {study.comparisons}",
        f"    rule: {study.rule}",
        f"    reads: {', '.join(study.needs) or '-'}; report: {os.path.relpath(out, ROOT)}; cost: {study.cost()}"])


def run(name: str, options: list[str], done: set[str], every: dict[str, Study]) -> None:
    """The study's ``main(options)``, after the studies it reads that have no report."""
    for need in every[name].needs:
        if need not in done and not os.path.isfile(every[need].report_paths()[1]):
            print(f"{name} reads {need}'s report, which is missing: running {need} first", flush=True)
            run(need, [], done, every)
    done.add(name)
    every[name].module().main(options)


def main(argv: list[str]) -> int:
    every = studies()
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=("list", "run", "report"))
    p.add_argument("study", nargs="?", choices=list(every))
    p.add_argument("options", nargs=argparse.REMAINDER, help="the study's own options")
    a = p.parse_args(argv)
    if a.command == "list":
        print("\n".join(describe(s) for s in every.values()))
        return 0
    if a.study is None:
        p.error(f"{a.command} needs a STUDY: one of {', '.join(every)}")
    if a.command == "report":
        run(a.study, [*a.options, "--from-records"], set(every), every)
    else:
        run(a.study, a.options, set(), every)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
