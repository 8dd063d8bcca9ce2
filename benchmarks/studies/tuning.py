"""Equal tuning trials for every trainable method on FDRDSynth's val gallery: the settings of the
synthetic configs (``configs/trainers/<trainer>/synth.yaml``) are chosen here.

    python -m benchmarks run tuning                  # writes tuning.md and bench_tuning.json in docs/
    python -m benchmarks run tuning --quick --backbone tiny.pt --methods CoOp DCAR --seeds 1 --json /tmp/t.json --out /tmp/t.md

Fixed before the first run, and recorded in the JSON:

* **methods**: CoOp, CLIP-Adapter, CLIP-LoRA, MaPLe, PromptSRC, DCAR and full fine-tuning (the
  upper-bound reference),
  each with ``TRIALS`` trials; every trial is trained for the same seeds (``--seeds``, 1-3) on the
  data, backbone and shots of ``benchmarks/studies/synthetic_benchmark.py``, and evaluated once, after its
  last epoch, on the val gallery of ``benchmarks/harness/runner.py`` (``VAL_IMAGES`` per domain, the size
  ``benchmarks/studies/val_size.py`` chose; ``TEST.SPLIT val``: no trial is evaluated on test;
  ``TEST.FINE_GRAINED False``: R@K and RSUM only).
* **the search**: trial 0 is the method's synth config as it stood before the round
  (``benchmarks/harness/runner.py``, :func:`untuned`: every trial runs on it, whatever the config
  says since); trials 1.. draw every dimension of the method's space uniformly at random (a
  random stream per method and trial, so a trial's settings never depend on another method's), a
  draw equal to an earlier trial drawn again.
  Every method searches the learning rate (its config's times ``LR_FACTORS``), the epochs
  (``EPOCHS``: the same choices, hence the same largest budget, for all) and ``LOSS``; DCAR also
  lambda, alpha, the negatives of each kind, the attribute-swap generator and CAA at test
  (``DCAR_SPACE``).
* **the rule**: the trial with the highest mean val RSUM over the seeds is chosen, ties to the lower
  trial index (the config as it stood first). The paired val difference of the chosen trial and
  trial 0 is reported beside it (95% interval over seeds and val items): a choice whose interval
  includes 0 is no better than the config it replaces, as far as val can tell.

Runs are resumable and reused (a finished trial is not run again); a changed search space needs a
fresh ``--runs`` folder (``train.py`` refuses a folder made with other settings).

The chosen settings are then written into the synth configs (with a comment naming the trial), and
``tests/test_tuning.py`` checks that each config still runs what was chosen. Every trial's resolved
values are in the JSON (``runs_with``); running this script again runs the same round (its start is
declared, not read from the configs), so its runs are found again by their identity. A new round
around the chosen settings would be a new declaration.
"""
from __future__ import annotations

import argparse
import functools
import os
import random
from dataclasses import dataclass

from benchmarks.harness.render import provenance, table
from benchmarks.harness.runner import (
    DATASET_CONFIG,
    Job,
    config_values,
    loss_key,
    publish,
    run_arguments,
    run_settings,
    study_runs,
    synth_config,
    untuned,
)
from benchmarks.harness.study import Study
from methods import method, trainers
from reporting.stats import paired_difference

TRIALS = 6
METHODS = trainers(tuned=True)  # methods.py
LR_FACTORS = (0.2, 0.5, 1.0, 2.0, 5.0)
EPOCHS = (5, 10, 15)
QUICK_EPOCHS = (1, 2)
LOSSES = ("symmetric", "i2t")
DOMAIN_SWAPS = {"DATASET.FDRD.ATTRIBUTE_SWAPS": "domain", "DATASET.FDRD.ATTRIBUTE_LEXICON_EXTRA": "('size:medium',)"}
DCAR_SPACE = {
    "lambda": [{"TRAINER.DCAR.CATE.LAMBDA": v} for v in ("0.25", "0.5", "1.0", "2.0")],
    "alpha": [{"TRAINER.DCAR.CATE.ALPHA": v} for v in ("0.0", "0.25", "0.5", "1.0")],
    "category negatives": [{"DATASET.FDRD.NUM_CATEGORY_NEGATIVES": v} for v in ("2", "4", "6")],
    "attribute negatives": [{"DATASET.FDRD.NUM_ATTRIBUTE_NEGATIVES": v} for v in ("0", "1", "2")],
    "attribute-swap generator": [{"DATASET.FDRD.ATTRIBUTE_SWAPS": "lexicon"}, DOMAIN_SWAPS,
                                 {**DOMAIN_SWAPS, "DATASET.FDRD.ATTRIBUTE_WORDS": "2"}],
    "CAA at test": [{"TRAINER.DCAR.CAA.AT_TEST": v} for v in ("False", "True")],
}
RULE = ("highest mean val RSUM over the seeds; ties to the lower trial index (trial 0: the config before the round); "
        "the chosen trial's paired val difference with trial 0 reported beside it")

STUDY = Study(
    name="tuning", question="Which settings of each method does val choose, with equal trials for every method?",
    rows=tuple(f"{m} x {TRIALS} trials" for m in METHODS),
    seeds=(1, 2, 3), data_seeds=(0,), split="val only (TEST.SPLIT val; R@K and RSUM)",
    comparisons="each method's chosen trial - its trial 0 (val RSUM, paired over seeds and val items)",
    rule=RULE, needs=("val_size",))

@dataclass(frozen=True)
class Trial:
    """One setting of one method: ``settings`` (dimension -> the keys it sets), empty for trial 0."""

    trainer: str
    index: int
    settings: dict[str, dict[str, str]]

    @property
    def opts(self) -> list[str]:
        return [x for keys in self.settings.values() for k, v in keys.items() for x in (k, v)]

    def epochs(self, default: int) -> int:
        return int(self.settings.get("epochs", {}).get("OPTIM.MAX_EPOCH", default))


@functools.lru_cache(maxsize=None)
def config_value(trainer: str, key: str) -> float:
    """A number of the trainer's synth config as it stood before the round (``OPTIM.LR``, ``OPTIM.MAX_EPOCH``)."""
    return float(config_values(trainer, [key], untuned(trainer))[key])


def search_space(trainer: str, quick: bool = False) -> dict[str, list[dict[str, str]]]:
    """The method's dimensions, each a list of choices (the config keys a choice sets); ``quick``:
    the tests' epochs."""
    lr = config_value(trainer, "OPTIM.LR")
    space = {"learning rate": [{"OPTIM.LR": f"{lr * f:.6g}"} for f in LR_FACTORS],
             "epochs": [{"OPTIM.MAX_EPOCH": str(e)} for e in (QUICK_EPOCHS if quick else EPOCHS)],
             "loss": [{loss_key(trainer): v} for v in LOSSES]}
    return {**space, **DCAR_SPACE} if trainer == "DCAR" else space


def as_config(trainer: str, settings: dict[str, dict[str, str]]) -> dict[str, object]:
    """The values a trial runs with, for every key its space sets (the synth config before the round
    merged with the trial's keys): two trials run the same settings when these are equal."""
    keys = [k for choices in search_space(trainer).values() for choice in choices for k in choice]
    opts = [x for keys in settings.values() for k, v in keys.items() for x in (k, v)]
    return config_values(trainer, list(dict.fromkeys(keys)), [*untuned(trainer), *opts])


def trials(trainer: str, count: int, quick: bool = False) -> list[Trial]:
    """Trial 0 (the config) and ``count - 1`` random draws, each running settings no earlier
    trial runs (module docstring)."""
    space, drawn = search_space(trainer, quick), [Trial(trainer, 0, {})]
    seen = [as_config(trainer, {})]
    for index in range(1, count):
        rng = random.Random(f"{trainer}|{index}")
        while True:
            settings = {dim: rng.choice(choices) for dim, choices in space.items()}
            if as_config(trainer, settings) not in seen:
                break
        seen.append(as_config(trainer, settings))
        drawn.append(Trial(trainer, index, settings))
    return drawn


def trial_folder(a: argparse.Namespace, trial: Trial, seed: int) -> str:
    return os.path.join(a.runs, f"data{a.data_seed}-{a.backbone_tag}", trial.trainer.lower(), f"trial{trial.index}",
                        f"seed{seed}")


def jobs(a: argparse.Namespace, common: list[str], all_trials: list[Trial]) -> list[Job]:
    """Every (trial, seed) as a ``train.py`` job: trial by trial, the longest first within one."""
    out = []
    for index in sorted({t.index for t in all_trials}):
        batch = [t for t in all_trials if t.index == index]
        batch.sort(key=lambda t: -method(t.trainer).minutes * t.epochs(int(config_value(t.trainer, "OPTIM.MAX_EPOCH"))))
        for trial in batch:
            for seed in a.seeds:
                folder = trial_folder(a, trial, seed)
                out.append(Job(folder, ("--root", a.data, "--seed", str(seed), "--trainer", trial.trainer,
                                        "--dataset-config-file", DATASET_CONFIG, "--config-file",
                                        synth_config(trial.trainer), "--output-dir", folder, *common, "TRAIN.VAL_FREQ",
                                        "0", "TEST.SPLIT", "val", "TEST.FINE_GRAINED", "False", *untuned(trial.trainer),
                                        *trial.opts)))
    return out


def choose(results: dict[int, list[dict]]) -> int:
    """The rule (module docstring): trial index -> its runs' results, one per seed."""
    means = {i: sum(r["metrics"]["rsum"] for r in runs) / len(runs) for i, runs in results.items()}
    return min(means, key=lambda i: (-means[i], i))


def summarise(trainer: str, method_trials: list[Trial], results: dict[int, list[dict]], quick: bool) -> dict:
    """One method: every trial with its val metrics, the chosen one, its paired difference with trial 0."""
    chosen = choose(results)
    rows = []
    for t in method_trials:
        runs = results[t.index]
        rows.append({"index": t.index, "settings": dict(t.settings), "opts": t.opts,
                     "runs_with": as_config(trainer, t.settings),
                     **{f"val_{k}": [r["metrics"][k] for r in runs] for k in ("i2t_R@1", "t2i_R@1", "rsum")},
                     "mean_val_rsum": sum(r["metrics"]["rsum"] for r in runs) / len(runs)})
    diff = None
    if chosen != 0:
        ranks = [[r["item_ranks"] for r in results[i]] for i in (chosen, 0)]
        diff = paired_difference(ranks[0], ranks[1], "rsum")
    return {"trials": rows, "search_space": search_space(trainer, quick), "chosen": chosen,
            "chosen_settings": rows[chosen]["settings"], "chosen_opts": rows[chosen]["opts"],
            "chosen_vs_trial0": diff}


def markdown(report: dict) -> str:
    lines = ["# Equal tuning trials on FDRDSynth's val gallery", "",
             provenance(report) + " "
             f"{report['trials']} trials per method, seeds {report['seeds']}, val gallery of "
             f"{report['val_images_per_domain']:,} images per domain. Rule: {report['rule']}.", ""]
    for trainer, m in report["methods"].items():
        cells = [[f"{row['index']}{' **chosen**' if row['index'] == m['chosen'] else ''}",
                  "; ".join(f"{d}: " + ", ".join(f"{k} {v}" for k, v in c.items()) for d, c in row["settings"].items())
                  or "the config before the round", ", ".join(f"{v:.1f}" for v in row["val_rsum"]),
                  f"{row['mean_val_rsum']:.1f}"] for row in m["trials"]]
        lines += [f"## {trainer}", "", table(cells, headers=["trial", "settings", "val RSUM per seed", "mean"])]
        d = m["chosen_vs_trial0"]
        lines += ["", "Trial 0 is kept." if d is None else
                  f"Chosen - trial 0 on val: {d['mean']:+.2f} RSUM, 95% interval [{d['ci95'][0]:+.2f}, {d['ci95'][1]:+.2f}]"
                  + (" (excludes 0)." if d["ci95"][0] > 0 else
                     " (includes 0: no better than the config as far as val can tell)."),
                  ""]
    return "\n".join(lines)


def arguments() -> argparse.ArgumentParser:
    """The command line (its report: ``docs/results/tuning.md`` and ``bench_tuning.json``)."""
    p = run_arguments(__doc__, list(STUDY.seeds), "tuning", "tuning")
    p.add_argument("--trials", type=int, default=TRIALS, help="trials per method (the same for all)")
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    return p


def main(argv: list[str]) -> None:
    p = arguments()
    a = p.parse_args(argv)
    if a.trials < 1:
        p.error("--trials must be at least 1")
    spec, common = run_settings(a)
    by_method = {m: trials(m, a.trials, a.quick) for m in a.methods}
    every = [t for ts in by_method.values() for t in ts]
    todo = jobs(a, common, every)
    got = study_runs(a, todo)
    methods = {m: summarise(m, ts, {t.index: [got.results[trial_folder(a, t, s)] for s in a.seeds] for t in ts},
                            a.quick) for m, ts in by_method.items()}
    report = {"val_images_per_domain": spec["VAL_IMAGES_PER_DOMAIN"], "seeds": a.seeds,
              "trials": a.trials, "rule": RULE, "lr_factors": list(LR_FACTORS), "epochs": list(EPOCHS),
              "methods": methods,
              "data_seed": a.data_seed, "shots": a.shots,
              }
    publish(a, "tuning", argv, report, [got], markdown)

