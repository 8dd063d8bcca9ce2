"""How large FDRDSynth's val gallery must be to choose settings with: the 95% half-width of paired
val RSUM differences over 3 seeds, for each ``DATASET.FDRD_SYNTH.VAL_IMAGES_PER_DOMAIN``.

    python -m benchmarks run val_size                      # -> docs/results/val_size.md, docs/results/bench_val_size.json
    python -m benchmarks run val_size --quick --backbone tiny.pt --json /tmp/v.json --out /tmp/v.md

Three settings are trained for seeds 1-3 on the data, backbone and shots of
``benchmarks/studies/synthetic_benchmark.py``, at the synth configs as they stood before the
tuning (``benchmarks/harness/runner.py``, :func:`untuned`), with a val file of the largest size
(with a val file the few-shot pool is the whole train file, whatever the val size): MaPLe, DCAR, and DCAR with
``TRAINER.DCAR.CATE.LAMBDA 0.5``. Each checkpoint is then evaluated on val galleries of every size
(``--eval-only``, ``TEST.SPLIT val``; a smaller val gallery is the start of a larger one). Two pairs
are measured at each size, paired over seeds and bootstrapped over val items
(:func:`reporting.stats.paired_difference`):

* **between methods**: DCAR - MaPLe;
* **within a method**: DCAR with lambda 0.5 - DCAR (a weight the tuning searches).

The half-width of a pair is half the width of its 95% interval (the hull of the seed interval and
the item interval, the one the project calls a difference significant by); its item part is the
part a larger gallery narrows, its seed part (training randomness) is not.

The rule, fixed before any run: the chosen size is the smallest whose half-width is at most
``TARGET`` RSUM points for both pairs; when no size reaches it, the largest size measured, and the
report says the target is not met and which part of the interval stands in the way.
"""
from __future__ import annotations

import argparse
import os

from benchmarks.harness.analysis import half_widths
from benchmarks.harness.render import provenance, table
from benchmarks.harness.runner import (
    DATASET_CONFIG,
    Job,
    publish,
    run_arguments,
    run_settings,
    study_runs,
    untuned,
)
from benchmarks.harness.study import Study
from reporting.stats import paired_difference

TARGET = 3.0  # RSUM points: the 95% half-width a paired val difference over 3 seeds may have
SIZES = (501, 1002, 2001)  # val images per domain (whole twin groups of 3)
QUICK_SIZES = (6, 12)
# The settings as they stood when the val gallery was sized, before the tuning (runner.untuned), whatever the configs say since.
SETTINGS = {"MaPLe": ("MaPLe", untuned("MaPLe")), "DCAR": ("DCAR", untuned("DCAR")),
            "DCAR lambda 0.5": ("DCAR", (*untuned("DCAR"), "TRAINER.DCAR.CATE.LAMBDA", "0.5"))}
PAIRS = {"between methods": ("DCAR", "MaPLe"), "within a method": ("DCAR lambda 0.5", "DCAR")}
RULE = (f"the smallest size whose 95% half-width is at most {TARGET:g} RSUM for both pairs; when none reaches it, the "
        "largest, with what stands in the way (seeds or items)")
STUDY = Study(
    name="val_size", question="How large must FDRDSynth's val gallery be to choose settings with?",
    rows=tuple(SETTINGS), seeds=(1, 2, 3), data_seeds=(0,),
    split=f"val only: each checkpoint on val galleries of {', '.join(f'{n:,}' for n in SIZES)} images per domain",
    comparisons="; ".join(f"{pair}: {left} - {right}" for pair, (left, right) in PAIRS.items())
    + " (val RSUM, paired over seeds and val items)",
    rule=RULE)


def slug(name: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in name).strip("_").lower()


def jobs(a: argparse.Namespace, common: list[str], sizes: tuple[int, ...]) -> tuple[list[Job], list[Job], dict]:
    """(training jobs, evaluation jobs, (setting, size, seed) -> evaluation folder)."""
    train, evaluate, where = [], [], {}
    runs = os.path.join(a.runs, f"data{a.data_seed}-{a.backbone_tag}")  # other data or weights: other runs
    for name, (trainer, opts) in SETTINGS.items():
        for seed in a.seeds:
            run = os.path.join(runs, slug(name), f"seed{seed}")
            flags = ["--root", a.data, "--seed", str(seed), "--trainer", trainer, "--dataset-config-file",
                     DATASET_CONFIG, "--config-file", f"configs/trainers/{trainer}/synth.yaml"]
            model = Job(run, (*flags, "--output-dir", run, *common, *opts, "DATASET.FDRD_SYNTH.VAL_IMAGES_PER_DOMAIN",
                              str(max(sizes)), "TRAIN.VAL_FREQ", "0"))
            train.append(model)
            for size in sizes:
                out = os.path.join(runs, slug(name), f"val{size}", f"seed{seed}")
                evaluate.append(Job(out, (*flags, "--output-dir", out, "--eval-only", "--model-dir", run, *common, *opts,
                                          "DATASET.FDRD_SYNTH.VAL_IMAGES_PER_DOMAIN", str(size), "TEST.SPLIT", "val"),
                                    model))
                where[(name, size, seed)] = out
    return train, evaluate, where


def summarise(results: dict[tuple[str, int, int], dict], sizes: tuple[int, ...], seeds: list[int]) -> dict:
    """Per size and pair: the paired val RSUM difference and its half-widths; the chosen size by the rule."""
    rows = []
    for size in sizes:
        for pair, (left, right) in PAIRS.items():
            ranks = [[results[(name, size, s)]["item_ranks"] for s in seeds] for name in (left, right)]
            diff = paired_difference(ranks[0], ranks[1], "rsum")
            val_rsum = {name: [results[(name, size, s)]["metrics"]["rsum"] for s in seeds] for name in (left, right)}
            rows.append({"size": size, "pair": pair, "left": left, "right": right, "mean": diff["mean"],
                         "ci95": diff["ci95"], "half_width": half_widths(diff), "val_rsum": val_rsum})
    return {"target": TARGET, "sizes": list(sizes), "seeds": seeds, "rows": rows, **choose(rows, sizes)}


def choose(rows: list[dict], sizes: tuple[int, ...]) -> dict:
    """The rule of the module docstring."""
    worst = {size: max(r["half_width"]["overall"] for r in rows if r["size"] == size) for size in sizes}
    met = [size for size in sizes if worst[size] <= TARGET]
    if met:
        return {"chosen": min(met), "target_met": True, "chosen_half_width": worst[min(met)]}
    largest = max(sizes)
    at = [r for r in rows if r["size"] == largest]
    seeds_part = max(r["half_width"]["seeds"] for r in at)
    items_part = max(r["half_width"]["items"] for r in at)
    return {"chosen": largest, "target_met": False, "chosen_half_width": worst[largest],
            "in_the_way": "seeds (training randomness)" if seeds_part >= items_part else "items (the gallery's size)"}


def markdown(report: dict) -> str:
    lines = ["# The size of FDRDSynth's val gallery", "",
             provenance(report) + f" Seeds {report['seeds']}; "
             "paired val RSUM differences, 95% half-widths (overall = hull of the seed and item intervals).", "",
             table([[f"{r['size']:,}", f"{r['pair']}: {r['left']} - {r['right']}", f"{r['mean']:+.2f}",
                     *(f"{r['half_width'][part]:.2f}" for part in ("overall", "items", "seeds"))] for r in report["rows"]],
                   headers=["val images per domain", "pair", "difference", "half-width", "items part", "seeds part"])]
    verdict = (f"Target half-width {report['target']:g} RSUM met at {report['chosen']:,} images per domain."
               if report["target_met"] else
               f"Target half-width {report['target']:g} RSUM not met at any size; the largest, {report['chosen']:,}, "
               f"is used (half-width {report['chosen_half_width']:.2f}); in the way: {report['in_the_way']}.")
    return "\n".join([*lines, "", verdict, ""])


def arguments() -> argparse.ArgumentParser:
    """The command line (its report: ``docs/results/val_size.md`` and ``bench_val_size.json``)."""
    return run_arguments(__doc__, list(STUDY.seeds), "bench_val_size", "val_size")


def main(argv: list[str]) -> None:
    a = arguments().parse_args(argv)
    _, common = run_settings(a)
    sizes = QUICK_SIZES if a.quick else SIZES
    train, evaluate, where = jobs(a, common, sizes)
    got = study_runs(a, train + evaluate)
    report = summarise({key: got.results[out] for key, out in where.items()}, sizes, a.seeds)
    report.update(data_seed=a.data_seed, shots=a.shots)
    publish(a, "val_size", argv, report, [got], markdown)

