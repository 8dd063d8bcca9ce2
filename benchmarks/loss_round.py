"""A second val round over the L_con direction alone, at every method's chosen settings: can the
val gallery tell ``LOSS symmetric`` from ``LOSS i2t`` where test can?

    python benchmarks/loss_round.py              # -> docs/results/loss_round.md, docs/results/bench_loss_round.json
    python benchmarks/loss_round.py --quick --backbone tiny.pt --methods CoOp --seeds 1 2 --json /tmp/l.json --out /tmp/l.md

Why: the tuning (``benchmarks/tuning.py``) drew ``LOSS`` together with the learning rate and the
epochs in six random trials, so its choice of direction is confounded with them; on test, the
other direction at the chosen settings beat the chosen one for several methods (the protocol
table of ``benchmarks/synthetic_benchmark.py``). This round asks val the question alone.

Fixed before the first run, and recorded in the JSON:

* **methods and runs**: every method the tuning tunes (``tuning.METHODS``), each in two settings:
  its synth config (tuning's trial 0, now the chosen settings) and the config with the other
  ``LOSS`` (trial 1); seeds 1-3, trained and evaluated exactly as a tuning trial
  (:func:`benchmarks.tuning.jobs`: val gallery only, R@K and RSUM);
* **the rule**: the other direction is adopted only where val can tell, i.e. where its paired val
  RSUM difference with the config (95% interval over seeds and val items,
  :func:`reporting.stats.paired_difference`) excludes 0 in its favour; otherwise the config's
  direction stands. The report says what the rule adopts; it does not edit the configs (a change
  of a synth config needs the synthetic benchmark run again);
* **beside it**: the interval's half-width with its seed and item parts, and how many seeds its
  seed part would need to reach ``val_size.TARGET`` RSUM at the spread these seeds show
  (:func:`reporting.stats.seeds_for_half_width`); the same difference on test, from the protocol
  rows of ``docs/results/bench_synthetic.json`` (seeds 1-3 of the first data draw), and whether val and
  test give the same verdict; and the config's val RSUM per seed against the tuning's chosen trial
  in ``docs/results/bench_tuning.json`` (the same runs made again: equal figures say the round starts from
  what the tuning measured). Both reports are read only when made on the same data (data seed,
  not ``--quick``).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from benchmarks import tuning  # noqa: E402
from benchmarks.analysis import half_widths, interval, verdict  # noqa: E402
from benchmarks.runs import (  # noqa: E402
    config_values,
    loss_key,
    records_folder,
    resolve,
    run_arguments,
    run_settings,
    worker_env,
    write_report,
)
from benchmarks.synthetic_benchmark import ROWS, TUNING_JSON, other_loss  # noqa: E402
from benchmarks.val_size import TARGET  # noqa: E402
from reporting.stats import paired_difference, seeds_for_half_width  # noqa: E402

RULE = ("adopt the other LOSS only where its paired val RSUM difference with the config's has a 95% interval "
        "(hull of seeds and val items) above 0; otherwise the config's direction stands")
BENCHMARK_JSON = os.path.join(ROOT, "docs", "results", "bench_synthetic.json")


def round_trials(trainer: str) -> list[tuning.Trial]:
    """Trial 0 (the synth config) and trial 1 (the config with the other ``LOSS``)."""
    key = loss_key(trainer)
    other = other_loss(str(config_values(trainer, [key])[key]))
    return [tuning.Trial(trainer, 0, {}), tuning.Trial(trainer, 1, {"loss": {key: other}})]


def adopts(difference: dict) -> bool:
    """The rule (module docstring) on the paired val difference other - config."""
    return bool(difference["ci95"][0] > 0)


def protocol_difference(trainer: str, benchmark: dict | None) -> dict | None:
    """The test RSUM difference other - config of ``trainer``'s protocol row (None: not measured)."""
    names = [r.name for r in ROWS if r.trainer == trainer and r.role != "ablation"]
    entry = (benchmark or {}).get("protocols", {}).get(names[0] if names else "")
    return entry["other_minus_config"]["rsum"] if entry else None


def tuned_val_rsum(trainer: str, tuned: dict | None) -> list[float] | None:
    """The per-seed val RSUM of the tuning's chosen trial (None: no tuning report for ``trainer``)."""
    method = (tuned or {}).get("methods", {}).get(trainer)
    return method["trials"][method["chosen"]]["val_rsum"] if method else None


def summarise(trainer: str, trials: list[tuning.Trial], results: dict[int, list[dict]], benchmark: dict | None,
              tuned: dict | None) -> dict:
    """One method: both directions' val RSUM per seed, the paired difference, the rule, and test beside it."""
    config, other = (results[t.index] for t in trials)
    other_direction = trials[1].settings["loss"][loss_key(trainer)]
    diff = paired_difference([r["item_ranks"] for r in other], [r["item_ranks"] for r in config], "rsum")
    on_test = protocol_difference(trainer, benchmark)
    on_val, test_verdict = verdict(diff), verdict(on_test) if on_test else None
    earlier = tuned_val_rsum(trainer, tuned)
    val_rsum = [r["metrics"]["rsum"] for r in config]
    return {"config_loss": other_loss(other_direction), "other_loss": other_direction,
            "val_rsum": {"config": val_rsum, "other": [r["metrics"]["rsum"] for r in other]},
            "other_minus_config": diff, "half_width": half_widths(diff),
            "seeds_for_target": seeds_for_half_width(diff["per_seed"], TARGET),
            "val_verdict": on_val, "adopt_other": adopts(diff),
            "test_other_minus_config": on_test, "test_verdict": test_verdict,
            "val_agrees_with_test": on_val == test_verdict if on_test else None,
            "tuning_val_rsum": earlier,
            "reproduces_tuning": (max(abs(x - y) for x, y in zip(val_rsum, earlier)) < 1e-6
                                  if earlier and len(earlier) == len(val_rsum) else None)}


def markdown(report: dict) -> str:
    lines = ["# A second val round over the L_con direction", "",
             f"Written by `{report['command']}` ({report['runtime_s'] / 60:.1f} min, {report['runs_reused']} of "
             f"{report['runs']} runs reused; the runs took {report['runs_time_s'] / 60:.0f} core-minutes). Seeds "
             f"{report['seeds']}, val gallery of {report['val_images_per_domain']:,} images per domain. "
             f"Rule: {report['rule']}.", "",
             "| method | config's LOSS | val RSUM, config / other (per seed) | other - config on val | "
             f"half-width: seeds / items | seeds for +-{report['target']:g} | on test (protocol rows) | "
             "val and test agree | rule |", "|---|---|---|---|---|---|---|---|---|"]
    for trainer, m in report["methods"].items():
        v = m["val_rsum"]
        per_seed = ", ".join(f"{a:.1f}/{b:.1f}" for a, b in zip(v["config"], v["other"]))
        on_test = (f"{interval(m['test_other_minus_config'], 1)}, {m['test_verdict']}"
                   if m["test_other_minus_config"] else "not measured")
        agree = {True: "yes", False: "no", None: "-"}[m["val_agrees_with_test"]]
        h, needed = m["half_width"], m["seeds_for_target"]
        lines.append(f"| {trainer} | {m['config_loss']} | {per_seed} | {interval(m['other_minus_config'], 1)}, "
                     f"{m['val_verdict']} | {h['seeds']:.1f} / {h['items']:.1f} | "
                     f"{needed if needed else 'over 1,000'} | {on_test} | {agree} | "
                     f"{'adopt ' + m['other_loss'] if m['adopt_other'] else 'keep ' + m['config_loss']} |")
    ms = report["methods"].values()
    told = [m for m in ms if m["test_verdict"] not in (None, "not distinguishable")]
    same = [m for m in told if m["val_agrees_with_test"]]
    reproduced = [m for m in ms if m["reproduces_tuning"]]
    compared = [m for m in ms if m["reproduces_tuning"] is not None]
    lines += ["", f"Where test tells the directions apart ({len(told)} methods), val gives the same verdict for "
              f"{len(same)}. The rule adopts the other direction for: "
              + (", ".join(t for t, m in report["methods"].items() if m["adopt_other"]) or "none")
              + ". The configs are not changed by this report.",
              f"The config's val RSUM equals the tuning's chosen trial, seed by seed, for {len(reproduced)} of "
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
    p = run_arguments(__doc__, [1, 2, 3], "loss_round", "loss_round")
    p.add_argument("--methods", nargs="+", default=list(tuning.METHODS), choices=list(tuning.METHODS))
    p.add_argument("--benchmark-json", default=BENCHMARK_JSON, help="the synthetic benchmark's report (test side)")
    p.add_argument("--tuning-json", default=TUNING_JSON, help="the tuning's report (its chosen trials' val RSUM)")
    return p


def main() -> None:
    p = arguments()
    a = p.parse_args()
    if len(a.seeds) < 2:
        p.error("--seeds: a paired interval over seeds needs at least 2")
    start = time.time()
    spec, common = run_settings(a)
    by_method = {m: round_trials(m) for m in a.methods}
    todo = tuning.jobs(a, common, [t for ts in by_method.values() for t in ts])
    got = resolve(todo, a.workers, worker_env(a.workers), records_folder(a), not a.from_records)
    benchmark, tuned = comparable(a.benchmark_json, a), comparable(a.tuning_json, a)
    methods = {m: summarise(m, ts, {t.index: [got.results[tuning.trial_folder(a, t, s)] for s in a.seeds] for t in ts},
                            benchmark, tuned) for m, ts in by_method.items()}
    report = {"val_images_per_domain": spec["VAL_IMAGES_PER_DOMAIN"], "seeds": a.seeds, "rule": RULE, "target": TARGET,
              "methods": methods, "runtime_s": time.time() - start, "runs_reused": got.reused, "runs": len(todo),
              "runs_time_s": got.seconds, "workers": a.workers,
              "data_seed": a.data_seed, "shots": a.shots,
              "command": " ".join(["python benchmarks/loss_round.py", *sys.argv[1:]])}
    write_report(a, report, markdown(report))


if __name__ == "__main__":
    main()
