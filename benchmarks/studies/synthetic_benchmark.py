"""The synthetic benchmark: an instrument that can tell the methods apart, in one command.

    python -m benchmarks run synthetic_benchmark                      # 5 seeds, data seeds 0 and 7 -> docs/ (~3.3 h, 2 cores)
    python -m benchmarks run synthetic_benchmark --other-draws        # data seed 0 only
    python -m benchmarks run synthetic_benchmark --extended           # + ablation rows 6 and 7
    python -m benchmarks run synthetic_benchmark --only MaPLe DCAR    # those trainers' rows beside the references
    python -m benchmarks run synthetic_benchmark --quick --backbone tiny.pt --out /tmp/q.md --json /tmp/q.json

What it does, on FDRDSynth (test galleries of >= 1,000 images per domain, in controlled twins)
with the small pretrained CLIP:

1. **what the frozen backbone knows** (:mod:`benchmarks.micro.testbed`): per factor, linear probes on
   the pooled image and the caption embeddings, the cosine between one-factor caption variants,
   zero-shot one-factor discrimination, each with its chance level; the gates the testbed must
   pass before any method is worth running; oracle retrievers that show where the room is;
2. **every method and DCAR's component chain** for each seed (``train.py`` runs in parallel worker
   processes, one thread each, longest first, beside the probes of step 1; finished runs of the
   same data seed and backbone weights are reused), with zero-shot CLIP and full fine-tuning (the
   upper bound) beside them. Every method runs its synth config, whose settings were chosen by
   equal tuning trials on val (``benchmarks/studies/tuning.py``); every run trains on the same data as
   the trials (FDRDSynth with its val gallery, ``benchmarks/harness/runner.py``) and evaluates test only.
   The chain starts from MaPLe's model at DCAR's tuned settings (row 1: what the settings alone
   change) and adds one component at a time (rows 2-4) up to DCAR; ``--extended`` adds the rows
   that take one component out of full DCAR (6: text-only prompts, 7: CAA = identity);
   **protocol rows** run every trainable method with the L_con direction its config does not use
   (``LOSS i2t`` beside ``symmetric``), compared with zero-shot in each direction and with the
   method's row under its config's loss (seeds 1-3 and R@K only: these rows serve those comparisons alone);
3. **paired differences**: each method against MaPLe and each ablation row against full DCAR, in
   i2t R@1, t2i R@1 and RSUM, with 95% intervals over seeds (t) and over test items (bootstrap)
   (:func:`reporting.stats.paired_difference`); a difference is called significant only when the
   hull of both intervals excludes 0;
4. **fine-grained measures** per row: negative discrimination by kind on one standard negative set
   (the same captions for every row and seed), and twin accuracy per factor
   (:mod:`evaluation.discrimination`);
5. **a second draw of the data** (``--other-draws``, data seed 7): the same table of methods
   (reference and method rows; the chain and the protocol rows run on the first draw only), and for
   every paired difference between methods whether its verdict (better, worse, not
   distinguishable) holds on both draws;

and writes ``docs/results/synthetic_benchmark.md`` and ``docs/results/bench_synthetic.json`` (with the val
gallery's size and half-width and each method's tuning, read from ``docs/results/bench_val_size.json``
and ``docs/results/bench_tuning.json``). Every setting was chosen on val (``benchmarks/studies/tuning.py``; the
augmentation earlier, ``docs/results/synthetic_selection.md``); nothing here is selected on test.
"""
from __future__ import annotations

import argparse
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from benchmarks.harness.analysis import DIFF_METRICS, across_draws, interval, verdict
from benchmarks.harness.records import read_named, write_named
from benchmarks.harness.render import provenance, table
from benchmarks.harness.runner import (
    DATASET_CONFIG,
    Job,
    Resolved,
    config_values,
    loss_key,
    publish,
    records_folder,
    run_arguments,
    run_settings,
    study_runs,
)
from benchmarks.harness.study import Study
from methods import METHODS, SYNTH
from reporting.stats import mean_std, paired_difference
from trainers.backbones.small_clip.recipe import POSITIVE_CONTROL  # docs/synthetic_testbed.md

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

KEYS = ("i2t_R@1", "i2t_R@5", "t2i_R@1", "t2i_R@5", "rsum")
GATES = {"image_probe": 0.90, "variant_cosine": 0.95, "zero_shot": (0.40, 0.80), "upper_bound_gap": 20.0}


@dataclass(frozen=True)
class Row:
    """One line of the table: a trainer with a config and options."""

    name: str
    trainer: str
    config: str
    opts: tuple[str, ...] = ()
    role: str = "method"  # reference | method | ablation | protocol
    seeded: bool = True  # False: deterministic (zero-shot), run once and paired with every seed
    minutes: float = 1.0  # one run's wall time on one core (measured at the tuned configs; rows 6 and 7: as full
    # DCAR, not measured at them); only orders the jobs, longest first
    extended: bool = False  # run only with --extended (the table's budget: see the module docstring)
    of: str = ""  # a protocol row: the row whose config it runs with the other L_con direction
    few_seeds: int = 0  # > 0: only the first few of the benchmark's seeds
    untuned: bool = False  # its method's config is not chosen by the tuning yet: run only when --only names it

    def run_seeds(self, seeds: list[int]) -> list[int]:
        """The seeds this row trains (zero-shot, deterministic: one run)."""
        if not self.seeded:
            return seeds[:1]
        return seeds[:self.few_seeds] if self.few_seeds else seeds

    @property
    def slug(self) -> str:
        return "".join(ch if ch.isalnum() else "_" for ch in self.name).strip("_").lower()


CFG = SYNTH  # the synthetic configs: configs/trainers/<trainer>/synth.yaml (equal budgets, chosen on val)
# The references, then the methods (methods.py, in its order), then DCAR's component chain.
ROWS = (  # a method joins the table once the tuning chose its synth config (methods.py, untuned_lr); --only runs it before
    *(Row(m.name, m.trainer, m.configs[CFG], role="reference" if m.reference else "method", seeded=m.trains,
          minutes=m.minutes, untuned=not (m.reference or m.tuned)) for m in sorted(METHODS, key=lambda m: not m.reference)),
    Row("1 prompts only, at DCAR's settings", "DCAR", CFG,
        ("TRAINER.DCAR.DTR.ENABLED", "False", "TRAINER.DCAR.CATE.LAMBDA", "0.0"), "ablation", minutes=2.7),
    Row("2 + DTR (no L_cate)", "DCAR", CFG, ("TRAINER.DCAR.CATE.LAMBDA", "0.0"), "ablation", minutes=2.5),
    Row("3 + L_cate, category negatives, alpha 0", "DCAR", CFG,
        ("DATASET.FDRD.NUM_ATTRIBUTE_NEGATIVES", "0", "TRAINER.DCAR.CATE.ALPHA", "0.0"), "ablation", minutes=7.5),
    Row("4 + attribute negatives, alpha 0", "DCAR", CFG, ("TRAINER.DCAR.CATE.ALPHA", "0.0"), "ablation", minutes=10.3),
    Row("6 full, text-only prompts", "DCAR", CFG, ("TRAINER.DCAR.VISUAL_PROMPTS", "False"), "ablation", minutes=8.3,
        extended=True),
    Row("7 full, CAA = identity", "DCAR", CFG, ("TRAINER.DCAR.CAA.TYPE", "none"), "ablation", minutes=8.3,
        extended=True),
)
REFERENCE_METHOD, REFERENCE_ABLATION = "MaPLe", "DCAR"  # the chain goes from MaPLe (its own settings) to DCAR
# One component at a time (docs/method.md, "Ablation rows"): each row against the row without that component.
COMPONENT_STEPS = (("1 prompts only, at DCAR's settings", "MaPLe", "DCAR's tuned settings instead of MaPLe's"),
                   ("2 + DTR (no L_cate)", "1 prompts only, at DCAR's settings", "DTR"),
                   ("3 + L_cate, category negatives, alpha 0", "2 + DTR (no L_cate)", "L_cate with category negatives"),
                   ("4 + attribute negatives, alpha 0", "3 + L_cate, category negatives, alpha 0", "attribute negatives"),
                   ("DCAR", "4 + attribute negatives, alpha 0", "category-matching weight alpha"),
                   ("DCAR", "6 full, text-only prompts", "visual prompts"),
                   ("DCAR", "7 full, CAA = identity", "CAA module"))
OTHER_DRAW = 7  # the second FDRDSynth draw (data seed) every conclusion is checked on
VAL_SIZE_JSON, TUNING_JSON = (os.path.join(ROOT, "docs", "results", f) for f in ("bench_val_size.json", "bench_tuning.json"))
NEGATIVE_SET = ("one standard set for every row and seed: the lexicon generator's 4 category and 1 attribute negatives "
                "per test image at item seed 0, no near-synonym swapped in (DATASET.FDRD.EVAL_NEGATIVES standard, "
                "docs/method.md, 'Negative captions')")
PROTOCOL_SEEDS = 3  # protocol rows: seeds 1-3, R@K only (compared with zero-shot and with the config's loss)
NEWER_BASELINES = ("PromptSRC", "CLIP-LoRA")  # also compared with DCAR directly
COMPARISONS = ([(r.name, REFERENCE_METHOD) for r in ROWS if r.role != "ablation" and r.name != REFERENCE_METHOD]
               + [(name, REFERENCE_ABLATION) for name in NEWER_BASELINES]
               + [(r.name, REFERENCE_ABLATION) for r in ROWS if r.role == "ablation"])


STUDY = Study(
    name="synthetic_benchmark",
    question="Can the instrument tell the methods apart, and where does DCAR win or lose?",
    rows=(*(r.name for r in ROWS if not r.extended and not r.untuned),
          "protocol rows: each trainable method with the L_con direction its config does not use (seeds 1-3)"),
    seeds=(1, 2, 3, 4, 5), data_seeds=(0, OTHER_DRAW),
    split="test (every setting chosen on val before: tuning, loss round); the second draw: references and methods",
    comparisons="each method - MaPLe; PromptSRC, CLIP-LoRA and each ablation row - DCAR; each component against the "
                "row without it; protocol rows - zero-shot and - their config row (i2t R@1, t2i R@1, RSUM)",
    rule="significant when the hull of the 95% intervals over seeds (t) and test items (bootstrap) excludes 0; a "
         "conclusion stands when its verdict holds on every draw",
    needs=("val_size", "tuning"))


def other_loss(loss: str) -> str:
    """The L_con direction that is not ``loss`` (``symmetric`` <-> ``i2t``)."""
    return "i2t" if loss == "symmetric" else "symmetric"


def protocol_rows() -> tuple[Row, ...]:
    """Each trainable method (zero-shot has no loss) with the L_con direction its config does not
    use: the protocol table sets ``LOSS i2t`` beside ``symmetric`` for every method. They are
    compared with zero-shot and with the method's config row only: ``PROTOCOL_SEEDS`` seeds, no
    fine-grained measures."""
    out = []
    for row in ROWS:
        if row.role == "ablation" or not row.seeded:
            continue
        key = loss_key(row.trainer)
        other = other_loss(config_values(row.trainer, [key])[key])
        out.append(Row(f"{row.name}, LOSS {other}", row.trainer, row.config,
                       (*row.opts, key, other, "TEST.FINE_GRAINED", "False"), "protocol", minutes=row.minutes,
                       of=row.name, few_seeds=PROTOCOL_SEEDS, untuned=row.untuned))
    return tuple(out)


def run_folder(a: argparse.Namespace, row: Row, seed: int) -> str:
    return os.path.join(a.runs, f"data{a.data_seed}-{a.backbone_tag}", row.slug, f"seed{seed}")


def job(row: Row, seed: int, a: argparse.Namespace, common: list[str]) -> Job:
    out = run_folder(a, row, seed)
    return Job(out, ("--root", a.data, "--seed", str(seed), "--trainer", row.trainer, "--dataset-config-file",
                     DATASET_CONFIG, "--config-file", f"configs/trainers/{row.trainer}/{row.config}.yaml",
                     "--output-dir", out, *common, *row.opts))


def row_results(row: Row, seeds: list[int], a: argparse.Namespace, results: dict[str, dict]) -> list[dict]:
    """One run's results per seed the row trains (the single zero-shot run stands for every seed)."""
    if not row.seeded:
        return [results[run_folder(a, row, seeds[0])] for _ in seeds]
    return [results[run_folder(a, row, s)] for s in row.run_seeds(seeds)]


def fmt(mean: float, sd: float | None = None) -> str:
    return f"{mean:.2f}" if sd is None else f"{mean:.2f} ± {sd:.2f}"


def gate_checks(probe: dict, gap: dict) -> dict[str, dict]:
    """Each gate of the testbed with its measured values and whether it holds."""
    factors = [f for f in probe if f != POSITIVE_CONTROL]
    lo, hi = GATES["zero_shot"]
    return {
        "image probe >= 0.90 for every factor": {
            "values": {f: probe[f]["image_probe"] for f in probe},
            "holds": all(probe[f]["image_probe"] >= GATES["image_probe"] for f in probe)},
        "one-factor caption variants at cosine <= 0.95": {
            "values": {f: probe[f]["variant_cosine"] for f in probe},
            "holds": all(probe[f]["variant_cosine"] <= GATES["variant_cosine"] for f in probe)},
        f"zero-shot one-factor discrimination in [0.40, 0.80] (positive control {POSITIVE_CONTROL} excepted)": {
            "values": {f: probe[f]["zero_shot"] for f in probe},
            "holds": all(lo <= probe[f]["zero_shot"] <= hi for f in factors)},
        "upper bound beats zero-shot by >= 20 R@1 points in both directions": {
            "values": gap, "holds": all(v >= GATES["upper_bound_gap"] for v in gap.values())},
    }


def probe_section(a: argparse.Namespace, folder: str) -> tuple[dict, dict]:
    from benchmarks.micro.testbed import Frozen, oracle_table, probe_table, read_split
    from trainers.backbones import load_clip

    frozen = Frozen(load_clip(a.backbone))
    test = read_split(folder, "test")
    return probe_table(frozen, read_split(folder, "train"), test, a.text_sample), oracle_table(test)


def markdown(report: dict) -> str:
    s = report["settings"]
    lines = [
        "# Synthetic benchmark (FDRDSynth, small pretrained CLIP) — not FDRD",
        "",
        provenance(report) + " "
        "Numbers on synthetic data: they test the implementation and the method's mechanisms, and say nothing about "
        "real FDRD.",
        "",
        f"Data: FDRDSynth, data seed {report['data_seed']}, {s['domains']} domains x {s['classes_per_domain']} "
        f"subcategories, {s['shots']} shots per class for training; test galleries of "
        + ", ".join(f"{d} {n:,}" for d, n in report["test_images_per_domain"].items())
        + f" images (twin groups). Seeds {', '.join(map(str, report['seeds']))}. Backbone `{s['backbone']}`. "
        f"Every trainable method: {s['budget']}.",
        "",
        tuning_line(report),
        "",
        "## 1. What the frozen backbone knows",
        "",
        table([[f, f"{r['image_probe']:.3f}", f"{r['text_probe']:.3f}", f"{r['chance']:.3f}",
                   f"{r['variant_cosine']:.3f}", f"{r['zero_shot']:.3f}", f"{r['zero_shot_chance']:.3f}"]
                  for f, r in report["probe"].items()],
                 headers=["factor", "image probe", "text probe", "chance", "variant cosine", "zero-shot", "chance"]),
        "",
        "Probes: a linear classifier on the pooled image embedding or the caption embedding, fit on the train split "
        "and scored on test. Variant cosine: between a test caption and its variants in which only that factor's "
        "words differ. Zero-shot: how often the image scores its own caption above all those variants.",
        "",
        "Gates:",
        "",
    ]
    for name, g in report["gates"].items():
        vals = ", ".join(f"{k} {v:.2f}" for k, v in g["values"].items())
        lines.append(f"- {'holds' if g['holds'] else '**fails**'}: {name} ({vals})")
    lines += ["", "Oracle retrievers (R@1 of a retriever matching exactly these factors, ties at random):", "",
              table([[k, f"{v:.1f}"] for k, v in report["oracle"].items()], headers=["factors matched", "R@1"]), "",
              "## 2. Rows (mean ± std over seeds, AVG over domains)", ""]
    cells = []
    for name, r in report["rows"].items():
        cells.append([name] + [fmt(*r["summary"][k]) for k in KEYS])
    lines += [table(cells, headers=["row"] + list(KEYS)), ""]
    kinds = sorted({k for r in report["negative_discrimination"].values() for k in r})
    lines += ["## 3. Negative discrimination (share of test images whose caption beats every negative of a kind, %)", "",
              f"Negatives: {report['negative_set']}; attribute negatives that swap in a near-synonym: "
              + ", ".join(f"{d} {100 * r:.1f}%" for d, r in report["negative_synonym_rate"].items()) + ".", "",
              table([[n] + [fmt(*r[k]) if k in r else "-" for k in kinds]
                        for n, r in report["negative_discrimination"].items()],
                       headers=["row"] + [k.replace("negdisc_", "") for k in kinds]), ""]
    factors = sorted({k.split("_", 2)[2] for r in report["twins"].values() for k in r})
    lines += ["## 4. Twin accuracy per factor (i2t / t2i, %)", "",
              table([[n] + [f"{r.get('twin_i2t_' + f, (0,))[0]:.1f} / {r.get('twin_t2i_' + f, (0,))[0]:.1f}"
                               for f in factors] for n, r in report["twins"].items()],
                       headers=["row"] + factors), ""]
    lines += ["## 5. Paired differences (95% intervals: over seeds (t), over test items (bootstrap); "
              "significant when their hull excludes 0)", ""]
    diff_rows = []
    for d in report["differences"]:
        diff_rows.append([f"{d['row']} − {d['reference']}", d["metric"], f"{d['mean']:+.2f}",
                          "[{:+.2f}, {:+.2f}]".format(*d["ci95_seeds"]), "[{:+.2f}, {:+.2f}]".format(*d["ci95_items"]),
                          "yes" if d["significant"] else "no"])
    lines += [table(diff_rows, headers=["comparison", "metric", "mean", "seeds", "items", "significant"]), ""]
    lines += ["## 6. One component at a time (each row against the row without that component)", "",
              table([[c["component"], f"{c['row']} − {c['reference']}", c["metric"], f"{c['mean']:+.2f}",
                         "[{:+.2f}, {:+.2f}]".format(*c["ci95"]), "yes" if c["significant"] else "no"]
                        for c in report["components"]],
                       headers=["component", "comparison", "metric", "mean", "95% interval", "significant"]), ""]
    lines += protocol_section(report) + draws_section(report)
    lines += ["## 9. What the numbers say (generated)", ""] + [f"- {s}" for s in report["verdicts"]] + [""]
    return "\n".join(lines)


def tuning_line(report: dict) -> str:
    """The settings chosen on val before this table, in a sentence."""
    half = report.get("val_halfwidth_rsum")
    out = (f"Chosen on val (FDRDSynth's val gallery, {report['val_images_per_domain']:,} images per domain"
           + (f"; a paired val RSUM difference over 3 seeds has a 95% half-width of about {half:.0f} points"
              if half is not None else "") + "): ")
    tuning = report.get("tuning")
    if not tuning:
        return out + "no tuning report (docs/results/bench_tuning.json) was found."
    parts = []
    for m, t in tuning.items():
        keys = ", ".join(f"{k} {v}" for c in t["chosen_settings"].values() for k, v in c.items()) or "its config as it stood"
        parts.append(f"{m}: trial {t['chosen_trial']} of {t['trials']} ({keys})")
    return out + "; ".join(parts) + " (benchmarks/studies/tuning.py; its report: bench_tuning.json beside this page)."


def protocol_section(report: dict) -> list[str]:
    cells = [[method, loss + (" (config)" if loss == p["config_loss"] else ""), f"{v['i2t_R@1']:.2f}",
              interval(v["vs_zero_shot"]["i2t_R@1"]), f"{v['t2i_R@1']:.2f}", interval(v["vs_zero_shot"]["t2i_R@1"]),
              "yes" if v["published_pattern"] else "no"]
             for method, p in report["protocols"].items() for loss in ("symmetric", "i2t") if loss in p
             for v in (p[loss],)]
    change = [[method, f"{p[other_loss(p['config_loss'])]['row']} − {method}"]
              + [interval(p["other_minus_config"][m]) for m in DIFF_METRICS]
              for method, p in report["protocols"].items() if "other_minus_config" in p]
    return ["## 7. Protocols: the direction of L_con (`LOSS symmetric` or `i2t`), against zero-shot", "",
            table(cells, headers=["method", "LOSS", "i2t R@1", "− zero-shot", "t2i R@1", "− zero-shot",
                                     "published pattern"]), "",
            f"The other direction against the config's (paired over seeds 1-{PROTOCOL_SEEDS}; 95% intervals):", "",
            table(change, headers=["method", "comparison", *DIFF_METRICS]), "",
            "Published pattern: above zero-shot on i2t and below it on t2i, both with 95% intervals excluding 0 "
            "(CoOp, CLIP-Adapter and MaPLe in the published table). Each method's config loss is its row of the "
            f"table (every seed); the other loss runs the first {PROTOCOL_SEEDS} seeds, R@K only.", ""]


def draws_section(report: dict) -> list[str]:
    seeds = list(report["data_seeds"])
    cells = [[f"{c['row']} − {c['reference']}", c["metric"]]
             + [f"{c['means'][s]:+.2f} [{c['ci95'][s][0]:+.2f}, {c['ci95'][s][1]:+.2f}] {c['verdicts'][s]}"
                for s in seeds] + ["yes" if c["holds"] else "**no**"]
             for c in report["across_draws"]]
    return [f"## 8. Every difference on each draw of the data (data seeds {', '.join(seeds)})", "",
            table(cells, headers=["comparison", "metric", *[f"data seed {s}" for s in seeds], "holds on every draw"]), ""]


def verdicts(report: dict) -> list[str]:
    """Plain sentences from the differences (who wins where, with the interval) and the positive
    control (does every trained method learn the factor zero-shot CLIP cannot read?)."""
    out = []
    zs = report["twins"]["zero-shot CLIP"]
    for direction in ("i2t", "t2i"):
        key = f"twin_{direction}_{POSITIVE_CONTROL}"
        if key not in zs:
            continue
        trained = {n: r[key][0] for n, r in report["twins"].items() if n != "zero-shot CLIP"}
        missing = [n for n, v in trained.items() if v <= zs[key][0] + 5]
        out.append(f"Positive control ({POSITIVE_CONTROL} twins, {direction}): zero-shot {zs[key][0]:.1f}%; "
                   + ("every trained row learns it (+5 points or more)" if not missing
                      else f"not learned by {', '.join(missing)}") + ".")
    for d in report["differences"]:
        if d["metric"] != "rsum" and d["row"] not in ("DCAR",):
            continue
        word = ("better than" if d["mean"] > 0 else "worse than") if d["significant"] else "not distinguishable from"
        out.append(f"{d['row']} is {word} {d['reference']} in {d['metric']}: {d['mean']:+.2f} "
                   f"(95% interval {d['ci95'][0]:+.2f} to {d['ci95'][1]:+.2f}).")
    for method, p in report["protocols"].items():
        if "other_minus_config" not in p:
            continue
        d = p["other_minus_config"]["rsum"]
        out.append(f"{method}, LOSS {other_loss(p['config_loss'])} − its config's LOSS {p['config_loss']}, rsum: {interval(d)} "
                   f"({verdict(d)}; seeds 1-{PROTOCOL_SEEDS}).")
    for seed, d in report["data_seeds"].items():
        shown = [f"{m} (LOSS {loss})" for m, p in d["published_pattern"].items() for loss, v in p.items() if v]
        losses = "either loss" if all(len(p) == 2 for p in d["published_pattern"].values()) else "its config's loss"
        out.append(f"Data seed {seed}: the published pattern (above zero-shot on i2t, below it on t2i) is "
                   + (f"reproduced by {', '.join(shown)} only." if shown else f"reproduced by no method under {losses}."))
    if len(report["data_seeds"]) > 1:
        broken = [c for c in report["across_draws"] if not c["holds"]]
        out.append(f"On data seeds {', '.join(report['data_seeds'])}, {len(report['across_draws']) - len(broken)} of "
                   f"{len(report['across_draws'])} differences get the same verdict on every draw"
                   + ("." if not broken else "; not: " + "; ".join(
                       f"{c['row']} − {c['reference']} in {c['metric']} ("
                       + ", ".join(f"{s}: {v}" for s, v in c["verdicts"].items()) + ")" for c in broken) + "."))
    return out


def arguments() -> argparse.ArgumentParser:
    """The command line (``docs/results/synthetic_benchmark.md`` and ``docs/results/bench_synthetic.json`` by default)."""
    p = run_arguments(__doc__, list(STUDY.seeds), "bench_synthetic", "synthetic_benchmark", report="synthetic")
    p.add_argument("--text-sample", type=int, default=300, help="test items for the text gates")
    p.add_argument("--extended", action="store_true",
                   help="also ablation rows 6 (text-only prompts) and 7 (CAA = identity): about 40 min more on 2 cores")
    p.add_argument("--other-draws", type=int, nargs="*", default=list(STUDY.data_seeds[1:]), metavar="DATA_SEED",
                   help=f"the same table on these FDRDSynth draws too (default {OTHER_DRAW}; none: no value)")
    p.add_argument("--only", nargs="+", metavar="TRAINER", choices=sorted({r.trainer for r in ROWS}),
                   help="only the rows of these trainers (zero-shot and full fine-tuning, the references, always run)")
    p.add_argument("--opts", nargs="*", default=[], help="KEY VALUE pairs for every run")
    return p


def main(argv: list[str]) -> None:
    a = arguments().parse_args(argv)
    import torch

    if a.workers > 1:
        torch.set_num_threads(1)  # the probes share the cores with the workers
    if a.quick:
        a.text_sample = 12
    references = {r.trainer for r in ROWS if r.role == "reference"}
    rows = [row for row in ROWS + protocol_rows() if (a.extended or not row.extended)
            and (a.only is None or row.trainer in {*a.only, *references}) and (not row.untuned or row.trainer in (a.only or ()))]
    made = [draw(argparse.Namespace(**{**vars(a), "data_seed": seed}), rows_for_draw(rows, first=i == 0))
            for i, seed in enumerate(dict.fromkeys([a.data_seed, *a.other_draws]))]
    draws = [d for d, _ in made]
    report = draws[0]
    report.update(data_seeds={str(d["data_seed"]): digest(d) for d in draws}, across_draws=across_draws(draws),
                  **chosen_on_val(a.quick))
    report["verdicts"] = verdicts(report)
    publish(a, "synthetic_benchmark", argv, report, [got for _, got in made], markdown)


def rows_for_draw(rows: list[Row], first: bool) -> list[Row]:
    """Every row on the first draw; on the other draws the references and methods, whose paired
    differences are the conclusions checked across draws (the component chain and the protocol
    rows run on the first draw only: together they cost more than the method rows)."""
    return rows if first else [r for r in rows if r.role in ("reference", "method")]


def draw(a: argparse.Namespace, rows: list[Row]) -> tuple[dict, Resolved]:
    """The whole table on the FDRDSynth draw ``a.data_seed`` (data, probes, runs, summary) and its runs."""
    from datasets.fdrd.synth import SynthSpec, ensure_generated
    from plugins import default_cfg

    spec_keys, common = run_settings(a)
    common += ["TRAIN.VAL_FREQ", "-1"]  # test is reported; the val gallery only makes the runs' data the tuning's
    c = default_cfg().DATASET.FDRD_SYNTH
    for k, v in spec_keys.items():
        c[k] = v
    spec = SynthSpec.from_cfg(c)
    jobs = [job(row, s, a, common) for row in sorted(rows, key=lambda r: -r.minutes)  # longest first: a short tail
            for s in row.run_seeds(a.seeds)]
    records = records_folder(a)
    probe_name = f"probe-{spec.folder_name()}-{a.backbone_tag}-{a.text_sample}"  # the data, the weights, the sample
    probed = read_named(probe_name, records) if records else None
    with ThreadPoolExecutor(1) as pool:  # the probes run beside the first training runs
        if probed is None:
            folder = os.path.join(a.data, ensure_generated(os.path.abspath(a.data), c.DIR, spec))
            probe_future = pool.submit(probe_section, a, folder)
        got = study_runs(a, jobs)
        if probed is None:
            probed = dict(zip(("probe", "oracle"), probe_future.result()))
            if records:
                write_named(probe_name, probed, records)
    probe, oracle = probed["probe"], probed["oracle"]
    print(json.dumps(probe, indent=1), flush=True)
    results = {row.name: row_results(row, a.seeds, a, got.results) for row in rows}
    return summarise(a, rows, results, probe, oracle, spec), got


def summarise(a: argparse.Namespace, used: list[Row], results: dict[str, list[dict]], probe: dict, oracle: dict,
              spec) -> dict:
    """One draw's report: rows per seed and summarised, fine-grained measures, paired differences,
    protocols, gates."""
    rows, negdisc, twins = {}, {}, {}
    by_name = {row.name: row for row in used}
    for name, runs in results.items():
        metrics = [r["metrics"] for r in runs]
        keys = [k for k in metrics[0] if "/" not in k]
        summary = {k: mean_std([m[k] for m in metrics]) for k in keys}
        row = by_name[name]
        rows[name] = {"trainer": row.trainer, "config": row.config, "opts": list(row.opts), "role": row.role,
                      "per_seed": {str(s): {k: m[k] for k in keys} for s, m in zip(a.seeds, metrics)},
                      "summary": summary}
        if any(k.startswith("negdisc_") for k in summary):  # rows run with TEST.FINE_GRAINED False have none
            negdisc[name] = {k: v for k, v in summary.items() if k.startswith("negdisc_")}
            twins[name] = {k: v for k, v in summary.items() if k.startswith("twin_")}
    ranks = {name: [r["item_ranks"] for r in runs] for name, runs in results.items()}
    differences = []
    for left, right in ((x, y) for x, y in COMPARISONS if x in results and y in results):
        for metric in DIFF_METRICS:
            differences.append({"row": left, "reference": right, **paired_difference(ranks[left], ranks[right], metric)})
    components = [{"component": what, "row": left, "reference": right, "metric": metric,
                   **paired_difference(ranks[left], ranks[right], metric)}
                  for left, right, what in COMPONENT_STEPS if left in results and right in results
                  for metric in DIFF_METRICS]
    zs, ub = rows["zero-shot CLIP"]["summary"], rows["full fine-tuning (upper bound)"]["summary"]
    gap = {d: ub[f"{d}_R@1"][0] - zs[f"{d}_R@1"][0] for d in ("i2t", "t2i")}
    sizes = results["zero-shot CLIP"][0]["sizes"]
    return {
        "seeds": a.seeds, "data_seed": a.data_seed,
        "test_images_per_domain": {d: s["images"] for d, s in sizes.items()},
        "probe": {f: {**r} for f, r in probe.items()}, "oracle": oracle,
        "gates": gate_checks(probe, gap), "upper_bound_gap": gap, "positive_control": POSITIVE_CONTROL,
        "rows": rows, "negative_discrimination": negdisc, "negative_set": NEGATIVE_SET, "twins": twins,
        "negative_synonym_rate": {d: n["synonym_rate"] for d, n in results["zero-shot CLIP"][0]["negatives"].items()},
        "differences": differences, "components": components, "protocols": protocols(rows, ranks),
        "settings": {"domains": spec.num_domains, "classes_per_domain": spec.classes_per_domain, "shots": a.shots,
                     "backbone": a.backbone,
                     "budget": "each method's synth config, chosen by equal tuning trials on val (benchmarks/studies/tuning.py)"},
    }


def protocols(rows: dict, ranks: dict) -> dict:
    """Per trainable method in ``rows``, its row under each L_con direction that ran
    (``config_loss``: its config's; a draw without protocol rows has only that one): R@1 both ways,
    the paired differences with zero-shot, and ``published_pattern``: above zero-shot on i2t and
    below it on t2i, both significant (the pattern of the published table); where the other
    direction ran, ``other_minus_config``: it minus the config's, paired over the other's seeds."""
    out = {}
    for p in (r for r in protocol_rows() if r.of in rows):
        other = dict(zip(p.opts[::2], p.opts[1::2]))[loss_key(p.trainer)]
        own = other_loss(other)
        out[p.of] = {"config_loss": own}
        ran = [(own, p.of)]
        if p.name in rows:
            seeds = len(ranks[p.name])  # the other loss ran the first seeds: paired with the config row's same seeds
            out[p.of]["other_minus_config"] = {
                m: paired_difference(ranks[p.name], ranks[p.of][:seeds], m) for m in DIFF_METRICS}
            ran.append((other, p.name))
        for loss, name in ran:
            zero_shot = ranks["zero-shot CLIP"][:len(ranks[name])]  # one run, paired with each seed's
            vs = {m: paired_difference(ranks[name], zero_shot, m) for m in ("i2t_R@1", "t2i_R@1")}
            out[p.of][loss] = {"row": name, **{m: rows[name]["summary"][m][0] for m in vs}, "vs_zero_shot": vs,
                               "published_pattern": bool(vs["i2t_R@1"]["significant"] and vs["i2t_R@1"]["mean"] > 0
                                                         and vs["t2i_R@1"]["significant"] and vs["t2i_R@1"]["mean"] < 0)}
    return out


def digest(report: dict) -> dict:
    """What a draw contributes to ``data_seeds``: its rows' means, differences, discrimination and protocols."""
    return {"rows": {n: {k: r["summary"][k] for k in KEYS} for n, r in report["rows"].items()},
            "differences": report["differences"], "negative_discrimination": report["negative_discrimination"],
            "published_pattern": {m: {loss: p[loss]["published_pattern"] for loss in ("symmetric", "i2t") if loss in p}
                                  for m, p in report["protocols"].items()}}


def chosen_on_val(quick: bool) -> dict:
    """What was chosen on val before this table: the val gallery's size and the half-width it
    gives (``docs/results/bench_val_size.json``), each method's tuning (``docs/results/bench_tuning.json``)."""
    from benchmarks.harness.runner import QUICK_VAL_IMAGES, VAL_IMAGES

    out: dict = {"val_images_per_domain": QUICK_VAL_IMAGES if quick else VAL_IMAGES}
    for path, key in ((VAL_SIZE_JSON, "val_halfwidth_rsum"), (TUNING_JSON, "tuning")):
        if not os.path.isfile(path):
            print(f"{os.path.relpath(path, ROOT)} is missing: the report's {key} is null")
            out[key] = None
            continue
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        out[key] = data["chosen_half_width"] if key == "val_halfwidth_rsum" else {
            m: {"trials": data["trials"], "seeds": data["seeds"], "search_space": t["search_space"], "rule": data["rule"],
                "chosen_trial": t["chosen"], "chosen_settings": t["chosen_settings"],
                "chosen_vs_trial0": t["chosen_vs_trial0"]} for m, t in data["methods"].items()}
    return out

