"""DCAR's open choices judged on the synthetic testbed: one row per config key, chosen on val,
reported on test.

    python -m benchmarks run dcar_choices                 # seeds 1-5 -> docs/results/dcar_choices.md and bench_dcar_choices.json
    python -m benchmarks run dcar_choices --quick --backbone tiny.pt --out /tmp/c.md --json /tmp/c.json

Every candidate changes one choice of DCAR at its tuned settings (its synth config, chosen by
``benchmarks/studies/tuning.py``; docs/method.md, "Dynamic token re-weighting" to "Category-aware
augmentation") and is compared with DCAR at those settings, on the data, backbone, recipe and
seeds of ``benchmarks/studies/synthetic_benchmark.py``: DCAR's runs there are this study's reference, found
by their identity (or their records), and every candidate trains exactly as they do:

* **training choices** (the attribute-swap generator and the words it changes, DTR's source,
  similarity mode, pooling and noise floor, the category weight's reading) are trained per seed;
  the test split gives the reported differences, an evaluation of the same checkpoint on val the
  choice;
* **test-time switches** (blank-image weights, CAA at test) change only retrieval: the reference
  checkpoints are evaluated with the switch (``--eval-only``) on val and on test.

The rule, fixed before any candidate ran: a candidate becomes the default only when its val RSUM
beats the current default's, paired over seeds, with a 95% t interval above 0; otherwise the
current default stays. The test differences are paired over seeds and bootstrapped over test items
(:func:`reporting.stats.paired_difference`), whatever the val decision.
"""
from __future__ import annotations

import argparse
import os
from dataclasses import dataclass

from benchmarks.harness.analysis import DIFF_METRICS, interval
from benchmarks.harness.render import provenance, table
from benchmarks.harness.runner import (
    DATASET_CONFIG,
    Job,
    publish,
    run_arguments,
    run_settings,
    study_runs,
    synth_config,
)
from benchmarks.harness.study import Study
from reporting.stats import mean_ci, paired_difference


@dataclass(frozen=True)
class Candidate:
    """One changed choice: ``opts`` on top of DCAR's synth config; ``test_time`` ones need no training."""

    name: str
    key: str
    opts: tuple[str, ...]
    test_time: bool = False

    @property
    def slug(self) -> str:
        return "".join(ch if ch.isalnum() else "_" for ch in self.name).strip("_").lower()


CANDIDATES = (  # each against the tuned settings: the domain generator changing 2 words, CAA off at test
    Candidate("attribute swaps: lexicon generator", "DATASET.FDRD.ATTRIBUTE_SWAPS", ("DATASET.FDRD.ATTRIBUTE_SWAPS", "lexicon")),
    Candidate("domain generator, 1 word changed", "DATASET.FDRD.ATTRIBUTE_WORDS", ("DATASET.FDRD.ATTRIBUTE_WORDS", "1")),
    Candidate("DTR from the current encoders (each epoch)", "TRAINER.DCAR.DTR.SOURCE", ("TRAINER.DCAR.DTR.SOURCE", "current")),
    Candidate("DTR from the current encoders, every 6 steps", "TRAINER.DCAR.DTR.REFRESH",
              ("TRAINER.DCAR.DTR.SOURCE", "current", "TRAINER.DCAR.DTR.REFRESH", "6")),
    Candidate("DTR patch similarity, max", "TRAINER.DCAR.DTR.S_MODE", ("TRAINER.DCAR.DTR.S_MODE", "patch")),
    Candidate("DTR patch similarity, mean", "TRAINER.DCAR.DTR.PATCH_POOL",
              ("TRAINER.DCAR.DTR.S_MODE", "patch", "TRAINER.DCAR.DTR.PATCH_POOL", "mean")),
    Candidate("DTR noise floor 0.02", "TRAINER.DCAR.DTR.NOISE_FLOOR", ("TRAINER.DCAR.DTR.NOISE_FLOOR", "0.02")),
    Candidate("category weight as logit bias", "TRAINER.DCAR.CATE.WEIGHT_MODE",
              ("TRAINER.DCAR.CATE.WEIGHT_MODE", "logit_bias")),
    Candidate("blank-image weights at test", "TRAINER.DCAR.DTR.TEST_WEIGHTS", ("TRAINER.DCAR.DTR.TEST_WEIGHTS", "blank"),
              test_time=True),
    Candidate("CAA at test", "TRAINER.DCAR.CAA.AT_TEST", ("TRAINER.DCAR.CAA.AT_TEST", "True"), test_time=True),
)


RULE = ("a candidate becomes the default only when its val RSUM beats the default's, paired over seeds, with a 95% t "
        "interval above 0; otherwise the default stays")
STUDY = Study(
    name="dcar_choices", question="Which of DCAR's open choices does val prefer at its tuned settings?",
    rows=("DCAR tuned (the reference: the synthetic benchmark's DCAR runs)", *(c.name for c in CANDIDATES)),
    seeds=(1, 2, 3, 4, 5), data_seeds=(0,), split="val decides (each checkpoint evaluated on val); test reported",
    comparisons="each candidate - DCAR tuned: val RSUM paired over seeds (t); test i2t R@1, t2i R@1, RSUM paired over "
                "seeds and test items", rule=RULE)


def arguments() -> argparse.ArgumentParser:
    """The command line (its report: ``docs/results/dcar_choices.md`` and ``bench_dcar_choices.json``)."""
    return run_arguments(__doc__, list(STUDY.seeds), "dcar_choices", "dcar_choices")


def main(argv: list[str]) -> None:
    a = arguments().parse_args(argv)
    _, common = run_settings(a)
    common += ["TRAIN.VAL_FREQ", "-1"]  # trained as the synthetic benchmark's rows; val is an evaluation of the checkpoint

    def job(out: str, seed: int, opts: tuple[str, ...], *extra: str, model: Job | None = None) -> Job:
        return Job(out, ("--root", a.data, "--seed", str(seed), "--trainer", "DCAR", "--dataset-config-file",
                         DATASET_CONFIG, "--config-file", synth_config("DCAR"), "--output-dir", out, *extra,
                         *common, *opts), model)

    def evaluation(out: str, model: Job, opts: tuple[str, ...], split: str) -> Job:
        seed = int(model.argv[model.argv.index("--seed") + 1])
        return job(out, seed, opts, "--eval-only", "--model-dir", model.out, "TEST.SPLIT", split, model=model)

    folder = os.path.join(a.runs, f"data{a.data_seed}-{a.backbone_tag}")
    base = {s: job(os.path.join(folder, "dcar", f"seed{s}"), s, ()) for s in a.seeds}
    train_jobs, eval_jobs = list(base.values()), []
    where: dict[str, dict[int, dict[str, str]]] = {"": {}}  # "": the reference
    for s, model in base.items():
        eval_jobs.append(evaluation(os.path.join(folder, "dcar", f"seed{s}_val"), model, (), "val"))
        where[""][s] = {"test": model.out, "val": eval_jobs[-1].out}
    for c in CANDIDATES:
        where[c.name] = {}
        for s in a.seeds:
            out = os.path.join(folder, c.slug, f"seed{s}")
            model = base[s] if c.test_time else job(out, s, c.opts)
            if not c.test_time:
                train_jobs.append(model)
            test = evaluation(f"{out}_test", model, c.opts, "test") if c.test_time else model
            val = evaluation(f"{out}_val", model, c.opts, "val")
            eval_jobs += [j for j in (test, val) if j.model is not None]
            where[c.name][s] = {"test": test.out, "val": val.out}
    train_jobs.sort(key=lambda j: int(j.argv[j.argv.index("--seed") + 1]))  # seed by seed: every row grows together
    got = study_runs(a, train_jobs + eval_jobs)
    report = summarise(a, where, got.results)
    publish(a, "dcar_choices", argv, report, [got], markdown)


def summarise(a: argparse.Namespace, where: dict, results: dict[str, dict]) -> dict:
    """Per candidate: val RSUM difference over seeds (the choice) and test differences (the report);
    ``where``: per candidate ("" the reference) and seed, its test and val run folders; ``results``:
    each run folder's results."""
    seeds = a.seeds

    def runs(name: str, split: str) -> list[dict]:
        return [results[where[name][s][split]] for s in seeds]

    ref_test, ref_val = runs("", "test"), [r["metrics"]["rsum"] for r in runs("", "val")]
    rows = {}
    for c in CANDIDATES:
        val_diff = [r["metrics"]["rsum"] - ref for r, ref in zip(runs(c.name, "val"), ref_val)]
        mean, half = mean_ci(val_diff) if len(seeds) > 1 else (val_diff[0], float("nan"))
        test = runs(c.name, "test")
        rows[c.name] = {
            "key": c.key, "opts": list(c.opts), "test_time": c.test_time,
            "val_rsum_difference": {"mean": mean, "ci95": [mean - half, mean + half], "per_seed": val_diff},
            "adopted": len(seeds) > 1 and mean - half > 0,
            "test": [paired_difference([r["item_ranks"] for r in test], [r["item_ranks"] for r in ref_test], m)
                     for m in DIFF_METRICS],
            "negative_discrimination": {k: sum(r["metrics"][k] for r in test) / len(test)
                                        for k in test[0]["metrics"] if k.startswith("negdisc_")},
        }
    ref = [r["metrics"] for r in ref_test]
    return {"seeds": seeds, "data_seed": a.data_seed, "backbone": a.backbone, "rows": rows,
            "reference": {"name": "DCAR (tuned)", "rsum": sum(m["rsum"] for m in ref) / len(ref),
                          "val_rsum": sum(ref_val) / len(seeds),
                          "negative_discrimination": {k: sum(m[k] for m in ref) / len(ref)
                                                      for k in ref[0] if k.startswith("negdisc_")}}}


def markdown(report: dict) -> str:
    cells = []
    for name, r in report["rows"].items():
        v = r["val_rsum_difference"]
        cells.append([name, f"`{r['key']}`", interval(v, 1), "**yes**" if r["adopted"] else "no",
                      *[interval(d) + (" *" if d.get("significant") else "") for d in r["test"]]])
    ref = report["reference"]
    lines = [
        "# DCAR's choices on the synthetic testbed", "",
        provenance(report) + " FDRDSynth and the "
        f"small CLIP of the synthetic benchmark, seeds {', '.join(map(str, report['seeds']))}; each row changes one "
        f"choice of DCAR at its tuned settings (reference: DCAR tuned, test RSUM {ref['rsum']:.1f}, val RSUM "
        f"{ref['val_rsum']:.1f}).", "",
        "Val: the candidate's val RSUM minus the default's, mean over seeds with a 95% t interval; a candidate is "
        "adopted only when that interval is above 0 (rule fixed before the runs). Test: paired differences "
        "(candidate - default) with the hull of the seed and test-item intervals; * = the interval excludes 0.", "",
        table(cells, headers=["candidate", "key", "val RSUM diff", "adopted", *[f"test {m}" for m in DIFF_METRICS]]), "",
        "Negative discrimination (share of test images whose caption beats every negative of a kind, %, mean over seeds):",
        "",
    ]
    kinds = sorted(ref["negative_discrimination"])
    lines += [table([[ref["name"], *[f"{ref['negative_discrimination'][k]:.1f}" for k in kinds]]]
                       + [[n, *[f"{r['negative_discrimination'][k]:.1f}" if k in r["negative_discrimination"] else "-"
                                for k in kinds]] for n, r in report["rows"].items()],
                       headers=["row", *[k.replace("negdisc_", "") for k in kinds]]), "",
              "Every row is scored against the same standard negatives (docs/method.md, 'Negative captions'), whatever "
              "generator it trains with.", ""]
    return "\n".join(lines)

