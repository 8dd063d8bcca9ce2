"""DCAR's open choices judged on the synthetic testbed: one row per config key, chosen on val,
reported on test.

    python benchmarks/dcar_choices.py                 # seeds 1-5 -> docs/results/dcar_choices.md and bench_dcar_choices.json
    python benchmarks/dcar_choices.py --quick --backbone tiny.pt --out /tmp/c.md --json /tmp/c.json

Every candidate changes one choice of full DCAR (docs/method.md, "Dynamic token re-weighting" to
"Category-aware augmentation") and is compared with DCAR at its defaults, on the data, backbone,
recipe and seeds of ``benchmarks/synthetic_benchmark.py`` (whose DCAR runs are reused, as are this
script's finished runs):

* **training choices** (the attribute-swap generator, DTR's source, similarity mode, pooling and
  noise floor, the category weight's reading) are trained per seed; the test split gives the
  reported differences and the last epoch's validation (``curves.json``) the choice;
* **test-time switches** (blank-image weights, CAA at test) change only retrieval: the default
  DCAR checkpoints are evaluated with the switch (``--eval-only``) on val and on test.

The rule, fixed before any candidate ran: a candidate becomes the default only when its val RSUM
beats the current default's, paired over seeds, with a 95% t interval above 0; otherwise the
current default stays (a key's default is also what every earlier run was made with). The test
differences are paired over seeds and bootstrapped over test items
(:func:`reporting.stats.paired_difference`), whatever the val decision.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from benchmarks.analysis import interval  # noqa: E402
from benchmarks.runs import (  # noqa: E402
    DATASET_CONFIG,
    Job,
    records_folder,
    resolve,
    run_arguments,
    run_settings,
    write_report,
)
from benchmarks.synthetic_benchmark import DIFF_METRICS, ROWS, run_folder  # noqa: E402
from reporting.stats import mean_ci, paired_difference  # noqa: E402

DOMAIN_SWAPS = ("DATASET.FDRD.ATTRIBUTE_SWAPS", "domain", "DATASET.FDRD.ATTRIBUTE_LEXICON_EXTRA", "('size:medium',)")


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


CANDIDATES = (
    Candidate("attribute swaps: domain generator", "DATASET.FDRD.ATTRIBUTE_SWAPS", DOMAIN_SWAPS),
    Candidate("domain generator, 2 words changed", "DATASET.FDRD.ATTRIBUTE_WORDS",
              (*DOMAIN_SWAPS, "DATASET.FDRD.ATTRIBUTE_WORDS", "2")),
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
DCAR_ROW = next(r for r in ROWS if r.name == "DCAR")
EPOCHS = 10  # the synth recipe's last epoch (configs/trainers/DCAR/synth.yaml)


def val_rsum(res: dict) -> float:
    """A run's validation RSUM: an eval-only run's on val, or a training run's at its last epoch."""
    if res["split"] == "val":
        return res["metrics"]["rsum"]
    return res["curves"][-1]["val_rsum"]


def arguments() -> argparse.ArgumentParser:
    """The command line (its report: ``docs/results/dcar_choices.md`` and ``bench_dcar_choices.json``)."""
    return run_arguments(__doc__, [1, 2, 3, 4, 5], "bench_synthetic", "dcar_choices")


def main() -> None:
    a = arguments().parse_args()
    start = time.time()
    _, common = run_settings(a)
    epochs = 1 if a.quick else EPOCHS

    def job(out: str, seed: int, opts: tuple[str, ...], *extra: str, model: Job | None = None) -> Job:
        return Job(out, ("--root", a.data, "--seed", str(seed), "--trainer", "DCAR", "--dataset-config-file",
                         DATASET_CONFIG, "--config-file", "configs/trainers/DCAR/synth.yaml", "--output-dir", out, *extra,
                         *common, *opts), model)

    def evaluation(out: str, seed: int, opts: tuple[str, ...], split: str) -> Job:
        return job(out, seed, opts, "--eval-only", "--model-dir", base[seed], "--load-epoch", str(epochs), "TEST.SPLIT",
                   split, model=base_job[seed])

    base = {s: run_folder(a, DCAR_ROW, s) for s in a.seeds}
    base_job = {s: job(base[s], s, ()) for s in a.seeds}
    folder = os.path.join(a.runs, f"data{a.data_seed}-{a.backbone_tag}", "choices")
    train_jobs = list(base_job.values())
    where: dict[str, dict[int, dict[str, str]]] = {}
    eval_jobs = []
    for c in CANDIDATES:
        where[c.name] = {}
        for s in a.seeds:
            if c.test_time:
                test, val = (os.path.join(folder, c.slug, f"seed{s}", split) for split in ("test", "val"))
                eval_jobs += [evaluation(test, s, c.opts, "test"), evaluation(val, s, c.opts, "val")]
            else:
                test = val = os.path.join(folder, c.slug, f"seed{s}")
                train_jobs.append(job(test, s, c.opts))
            where[c.name][s] = {"test": test, "val": val}
    train_jobs.sort(key=lambda j: int(j.argv[j.argv.index("--seed") + 1]))  # seed by seed: every row grows together
    env = {k: v for k, v in dict(os.environ, OMP_NUM_THREADS="1").items() if v != ""}
    base_val = {s: os.path.join(folder, "dcar_defaults", f"seed{s}", "val") for s in a.seeds}
    eval_jobs += [evaluation(base_val[s], s, (), "val") for s in a.seeds]
    got = resolve(train_jobs + eval_jobs, a.workers, env, records_folder(a), not a.from_records)
    report = summarise(a, where, base, base_val, got.results)
    report.update(runtime_s=time.time() - start, runs=len(train_jobs) + len(eval_jobs), runs_reused=got.reused,
                  runs_time_s=got.seconds,
                  command=" ".join(["python benchmarks/dcar_choices.py", *sys.argv[1:]]))
    write_report(a, report, markdown(report))


def summarise(a: argparse.Namespace, where: dict, base: dict, base_val: dict, results: dict[str, dict]) -> dict:
    """Per candidate: val RSUM difference over seeds (the choice) and test differences (the report);
    ``results``: each run folder's results."""
    seeds = a.seeds
    ref_test = [results[base[s]]["item_ranks"] for s in seeds]
    rows = {}
    for c in CANDIDATES:
        runs = where[c.name]
        # a test-time switch is judged against the same checkpoints evaluated without it
        ref_val = [val_rsum(results[base_val[s] if c.test_time else base[s]]) for s in seeds]
        val_diff = [val_rsum(results[runs[s]["val"]]) - r for s, r in zip(seeds, ref_val)]
        mean, half = mean_ci(val_diff) if len(seeds) > 1 else (val_diff[0], float("nan"))
        adopt = len(seeds) > 1 and mean - half > 0
        test = [results[runs[s]["test"]] for s in seeds]
        rows[c.name] = {
            "key": c.key, "opts": list(c.opts), "test_time": c.test_time,
            "val_rsum_difference": {"mean": mean, "ci95": [mean - half, mean + half], "per_seed": val_diff},
            "adopted": adopt,
            "test": [{**paired_difference([r["item_ranks"] for r in test], ref_test, m)} for m in DIFF_METRICS],
            "negative_discrimination": {k: sum(r["metrics"][k] for r in test) / len(test)
                                        for k in test[0]["metrics"] if k.startswith("negdisc_")},
        }
    ref = [results[base[s]]["metrics"] for s in seeds]
    return {"seeds": seeds, "data_seed": a.data_seed, "backbone": a.backbone, "rows": rows,
            "reference": {"name": "DCAR (defaults)", "rsum": sum(m["rsum"] for m in ref) / len(ref),
                          "val_rsum": sum(val_rsum(results[base[s]]) for s in seeds) / len(seeds),
                          "negative_discrimination": {k: sum(m[k] for m in ref) / len(ref)
                                                      for k in ref[0] if k.startswith("negdisc_")}}}


def markdown(report: dict) -> str:
    from tabulate import tabulate

    table = []
    for name, r in report["rows"].items():
        v = r["val_rsum_difference"]
        table.append([name, f"`{r['key']}`", interval(v, 1), "**yes**" if r["adopted"] else "no",
                      *[interval(d) + (" *" if d.get("significant") else "") for d in r["test"]]])
    ref = report["reference"]
    lines = [
        "# DCAR's choices on the synthetic testbed", "",
        f"Generated by `{report['command']}` in {report['runtime_s'] / 60:.1f} min ({report['runs_reused']} of "
        f"{report['runs']} runs reused; {report['runs_time_s'] / 60:.0f} core-minutes of runs). FDRDSynth and the "
        f"small CLIP of the synthetic benchmark, seeds {', '.join(map(str, report['seeds']))}; each row changes one "
        f"choice of full DCAR (reference: DCAR at its defaults, test RSUM {ref['rsum']:.1f}, val RSUM "
        f"{ref['val_rsum']:.1f}).", "",
        "Val: the candidate's val RSUM minus the default's, mean over seeds with a 95% t interval; a candidate is "
        "adopted only when that interval is above 0 (rule fixed before the runs). Test: paired differences "
        "(candidate - default) with the hull of the seed and test-item intervals; * = the interval excludes 0.", "",
        tabulate(table, headers=["candidate", "key", "val RSUM diff", "adopted", *[f"test {m}" for m in DIFF_METRICS]],
                 tablefmt="github"), "",
        "Negative discrimination (share of test images whose caption beats every negative of a kind, %, mean over seeds):",
        "",
    ]
    kinds = sorted(ref["negative_discrimination"])
    lines += [tabulate([["DCAR (defaults)", *[f"{ref['negative_discrimination'][k]:.1f}" for k in kinds]]]
                       + [[n, *[f"{r['negative_discrimination'][k]:.1f}" if k in r["negative_discrimination"] else "-"
                                for k in kinds]] for n, r in report["rows"].items()],
                       headers=["row", *[k.replace("negdisc_", "") for k in kinds]], tablefmt="github"), "",
              "Each run is scored against the negatives its own data settings make, so the rows that change the "
              "attribute-swap generator are scored against other (and, with 2 words changed, easier) attribute "
              "negatives: compare their retrieval columns above, not these.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
