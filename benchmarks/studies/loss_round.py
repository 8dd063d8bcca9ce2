"""A second val round over the L_con direction alone, at every method's chosen settings: can the
val gallery tell ``LOSS symmetric`` from ``LOSS i2t`` where test can?

    python -m benchmarks run loss_round              # -> docs/results/loss_round.md, docs/results/bench_loss_round.json
    python -m benchmarks run loss_round --quick --backbone tiny.pt --methods CoOp --seeds 1 2 --json /tmp/l.json --out /tmp/l.md

Why: the tuning (``benchmarks/studies/tuning.py``) drew ``LOSS`` together with the learning rate and the
epochs in six random trials, so its choice of direction is confounded with them; on test, the
other direction at the chosen settings beat the chosen one for several methods (the protocol
table of ``benchmarks/studies/synthetic_benchmark.py``). This round asks val the question alone.

Fixed before the first run, and recorded in the JSON:

* **methods and runs**: every method the tuning tunes (``tuning.METHODS``), each in two settings:
  the tuning's chosen trial (read from its report, so these runs are the tuning's own, found again
  by their identity) and that trial with the other ``LOSS``; seeds 1-3, trained and evaluated
  exactly as a tuning trial (:func:`benchmarks.studies.tuning.jobs`: val gallery only, R@K and RSUM);
* **the rule**: the other direction is adopted only where val can tell, i.e. where its paired val
  RSUM difference with the tuned direction (95% interval over seeds and val items,
  :func:`reporting.stats.paired_difference`) excludes 0 in its favour; otherwise the tuned
  direction stands. The report says what the rule adopts; the synth configs carry it (with a
  comment naming this round; ``tests/test_tuning.py`` checks them against both reports);
* **beside it**: the interval's half-width with its seed and item parts, and how many seeds its
  seed part would need to reach ``val_size.TARGET`` RSUM at the spread these seeds show
  (:func:`reporting.stats.seeds_for_half_width`); the same difference on test, from the protocol
  and config rows of ``docs/results/bench_synthetic.json`` (seeds 1-3 of the first data draw), and
  whether val and test give the same verdict; and the tuned direction's val RSUM per seed against
  the tuning's chosen trial (the same runs: equal figures say the round starts from what the tuning
  measured). Both reports are read only when made on the same data (data seed, not ``--quick``);
  without the tuning's, the round starts from trial 0 (the configs before the tuning).
"""
from __future__ import annotations

import argparse
import json
import os

from benchmarks.harness.analysis import half_widths, interval, negated, verdict
from benchmarks.harness.render import provenance, table
from benchmarks.harness.runner import (
    loss_key,
    publish,
    run_arguments,
    run_settings,
    study_runs,
)
from benchmarks.harness.study import Study
from benchmarks.studies import tuning
from benchmarks.studies.synthetic_benchmark import ROWS, TUNING_JSON, other_loss
from benchmarks.studies.val_size import TARGET
from reporting.stats import paired_difference, seeds_for_half_width

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

RULE = ("adopt the other LOSS only where its paired val RSUM difference with the tuned direction has a 95% interval "
        "(hull of seeds and val items) above 0; otherwise the tuned direction stands")
STUDY = Study(
    name="loss_round", question="Can the val gallery tell LOSS symmetric from LOSS i2t where test can?",
    rows=tuple(f"{m} x 2 directions (its chosen trial)" for m in tuning.METHODS),
    seeds=(1, 2, 3), data_seeds=(0,), split="val decides; test (the benchmark's protocol rows) beside it",
    comparisons="other LOSS - tuned LOSS (val RSUM, paired over seeds and val items)", rule=RULE,
    needs=("tuning", "synthetic_benchmark"))
BENCHMARK_JSON = os.path.join(ROOT, "docs", "results", "bench_synthetic.json")


def round_trials(trainer: str, tuned: dict | None) -> list[tuning.Trial]:
    """The tuning's chosen trial (trial 0 without a tuning report) and that trial with the other
    ``LOSS`` (indices 0 and 1 of this round)."""
    method = (tuned or {}).get("methods", {}).get(trainer)
    chosen = method["chosen_settings"] if method else {}
    key = loss_key(trainer)
    own = tuning.as_config(trainer, chosen)[key]
    return [tuning.Trial(trainer, 0, chosen), tuning.Trial(trainer, 1, {**chosen, "loss": {key: other_loss(own)}})]


def adopts(difference: dict) -> bool:
    """The rule (module docstring) on the paired val difference other - tuned."""
    return bool(difference["ci95"][0] > 0)


def protocol_difference(trainer: str, other: str, benchmark: dict | None) -> dict | None:
    """The test RSUM difference of ``trainer``'s row with ``LOSS other`` minus its row with the other
    direction, from the benchmark's protocol table, whichever of the two its config runs (None:
    not measured)."""
    names = [r.name for r in ROWS if r.trainer == trainer and r.role != "ablation"]
    entry = (benchmark or {}).get("protocols", {}).get(names[0] if names else "")
    if not entry or "other_minus_config" not in entry:
        return None
    d = entry["other_minus_config"]["rsum"]
    return d if entry["config_loss"] != other else negated(d)


def tuned_val_rsum(trainer: str, tuned: dict | None) -> list[float] | None:
    """The per-seed val RSUM of the tuning's chosen trial (None: no tuning report for ``trainer``)."""
    method = (tuned or {}).get("methods", {}).get(trainer)
    return method["trials"][method["chosen"]]["val_rsum"] if method else None


def summarise(trainer: str, trials: list[tuning.Trial], results: dict[int, list[dict]], benchmark: dict | None,
              tuned: dict | None) -> dict:
    """One method: both directions' val RSUM per seed, the paired difference other - tuned, the rule,
    and test beside it."""
    tuned_runs, other = (results[t.index] for t in trials)
    other_direction = trials[1].settings["loss"][loss_key(trainer)]
    diff = paired_difference([r["item_ranks"] for r in other], [r["item_ranks"] for r in tuned_runs], "rsum")
    on_test = protocol_difference(trainer, other_direction, benchmark)
    on_val, test_verdict = verdict(diff), verdict(on_test) if on_test else None
    earlier = tuned_val_rsum(trainer, tuned)
    val_rsum = [r["metrics"]["rsum"] for r in tuned_runs]
    return {"tuned_loss": other_loss(other_direction), "other_loss": other_direction,
            "val_rsum": {"tuned": val_rsum, "other": [r["metrics"]["rsum"] for r in other]},
            "other_minus_tuned": diff, "half_width": half_widths(diff),
            "seeds_for_target": seeds_for_half_width(diff["per_seed"], TARGET),
            "val_verdict": on_val, "adopt_other": adopts(diff),
            "test_other_minus_tuned": on_test, "test_verdict": test_verdict,
            "val_agrees_with_test": on_val == test_verdict if on_test else None,
            "tuning_val_rsum": earlier,
            "reproduces_tuning": (max(abs(x - y) for x, y in zip(val_rsum, earlier)) < 1e-6
                                  if earlier and len(earlier) == len(val_rsum) else None)}


def markdown(report: dict) -> str:
    lines = ["# A second val round over the L_con direction", "",
             provenance(report) + " Seeds "
             f"{report['seeds']}, val gallery of {report['val_images_per_domain']:,} images per domain. "
             f"Rule: {report['rule']}.", ""]
    cells = []
    for trainer, m in report["methods"].items():
        v = m["val_rsum"]
        per_seed = ", ".join(f"{a:.1f}/{b:.1f}" for a, b in zip(v["tuned"], v["other"]))
        on_test = (f"{interval(m['test_other_minus_tuned'], 1)}, {m['test_verdict']}"
                   if m["test_other_minus_tuned"] else "not measured")
        agree = {True: "yes", False: "no", None: "-"}[m["val_agrees_with_test"]]
        h, needed = m["half_width"], m["seeds_for_target"]
        cells.append([trainer, m["tuned_loss"], per_seed, f"{interval(m['other_minus_tuned'], 1)}, {m['val_verdict']}",
                      f"{h['seeds']:.1f} / {h['items']:.1f}", needed or "over 1,000", on_test, agree,
                      f"adopt {m['other_loss']}" if m["adopt_other"] else f"keep {m['tuned_loss']}"])
    lines.append(table(cells, headers=["method", "tuned LOSS", "val RSUM, tuned / other (per seed)", "other - tuned on val",
                                       "half-width: seeds / items", f"seeds for +-{report['target']:g}",
                                       "on test (protocol rows)", "val and test agree", "rule"]))
    ms = report["methods"].values()
    told = [m for m in ms if m["test_verdict"] not in (None, "not distinguishable")]
    same = [m for m in told if m["val_agrees_with_test"]]
    reproduced = [m for m in ms if m["reproduces_tuning"]]
    compared = [m for m in ms if m["reproduces_tuning"] is not None]
    lines += ["", f"Where test tells the directions apart ({len(told)} methods), val gives the same verdict for "
              f"{len(same)}. The rule adopts the other direction for: "
              + (", ".join(t for t, m in report["methods"].items() if m["adopt_other"]) or "none")
              + ". The synth configs carry what the rule adopts (a comment names this round; tests/test_tuning.py "
              "checks them against this report and the tuning's).",
              f"The tuned direction's val RSUM equals the tuning's chosen trial, seed by seed, for {len(reproduced)} of "
              f"{len(compared)} methods compared.",
              f"Over {len(report['seeds'])} seeds the seed part of these intervals is "
              f"{min(m['half_width']['seeds'] for m in ms):.1f}-{max(m['half_width']['seeds'] for m in ms):.1f} RSUM "
              f"and the item part {min(m['half_width']['items'] for m in ms):.1f}-"
              f"{max(m['half_width']['items'] for m in ms):.1f}; a half-width of {report['target']:g} would need "
              + ", ".join(f"{t} {m['seeds_for_target'] or 'over 1,000'}" for t, m in report["methods"].items())
              + " seeds at the spread these seeds show.", ""]
    return "\n".join(lines)


def comparable(path: str, a: argparse.Namespace) -> dict | None:
    """The report at ``path`` when its runs were made on the same data as this round's (the same
    data seed, not ``--quick``); None otherwise, so no figure of other data is set beside this one."""
    if a.quick:
        return None
    try:
        with open(path, encoding="utf-8") as f:
            report = json.load(f)
    except FileNotFoundError:
        return None
    return report if report.get("data_seed") == a.data_seed else None


def arguments() -> argparse.ArgumentParser:
    """The command line (its report: ``docs/results/loss_round.md`` and ``bench_loss_round.json``)."""
    p = run_arguments(__doc__, list(STUDY.seeds), "loss_round", "loss_round")
    p.add_argument("--methods", nargs="+", default=list(tuning.METHODS), choices=list(tuning.METHODS))
    p.add_argument("--benchmark-json", default=BENCHMARK_JSON, help="the synthetic benchmark's report (test side)")
    p.add_argument("--tuning-json", default=TUNING_JSON, help="the tuning's report (its chosen trials)")
    return p


def main(argv: list[str]) -> None:
    p = arguments()
    a = p.parse_args(argv)
    if len(a.seeds) < 2:
        p.error("--seeds: a paired interval over seeds needs at least 2")
    spec, common = run_settings(a)
    benchmark, tuned = comparable(a.benchmark_json, a), comparable(a.tuning_json, a)
    by_method = {m: round_trials(m, tuned) for m in a.methods}
    todo = tuning.jobs(a, common, [t for ts in by_method.values() for t in ts])
    got = study_runs(a, todo)
    methods = {m: summarise(m, ts, {t.index: [got.results[tuning.trial_folder(a, t, s)] for s in a.seeds] for t in ts},
                            benchmark, tuned) for m, ts in by_method.items()}
    report = {"val_images_per_domain": spec["VAL_IMAGES_PER_DOMAIN"], "seeds": a.seeds, "rule": RULE, "target": TARGET,
              "methods": methods,
              "data_seed": a.data_seed, "shots": a.shots,
              }
    publish(a, "loss_round", argv, report, [got], markdown)

