"""The synthetic benchmark: an instrument that can tell the methods apart, in one command.

    python benchmarks/synthetic_benchmark.py                      # 5 seeds, data seed 0 -> docs/
    python benchmarks/synthetic_benchmark.py --data-seed 7        # the whole table on a fresh draw of the data
    python benchmarks/synthetic_benchmark.py --extended           # + ablation rows 6 and 7
    python benchmarks/synthetic_benchmark.py --quick --backbone tiny.pt --out /tmp/q.md --json /tmp/q.json

What it does, on FDRDSynth (test galleries of >= 1,000 images per domain, in controlled twins)
with the small pretrained CLIP:

1. **what the frozen backbone knows** (:mod:`benchmarks.testbed`): per factor, linear probes on
   the pooled image and the caption embeddings, the cosine between one-factor caption variants,
   zero-shot one-factor discrimination, each with its chance level; the gates the testbed must
   pass before any method is worth running; oracle retrievers that show where the room is;
2. **every method and DCAR's component chain** for each seed (``train.py`` runs in parallel worker
   processes, one thread each, longest first, beside the probes of step 1; finished runs of the
   same data seed and backbone weights are reused), with zero-shot CLIP and full fine-tuning (the
   upper bound) beside them. The chain adds one component at a time from MaPLe to DCAR (rows 2-4);
   ``--extended`` adds the rows that take one component out of full DCAR (6: text-only prompts,
   7: CAA = identity). The budget decides: on 2 cores the chain fits in 45 minutes, the extended
   table takes about 13 minutes more (DCAR's category branch sends each image's positive and five
   negatives through the text encoder, so a DCAR run costs about 2.4 MaPLe runs);
3. **paired differences**: each method against MaPLe and each ablation row against full DCAR, in
   i2t R@1, t2i R@1 and RSUM, with 95% intervals over seeds (t) and over test items (bootstrap)
   (:func:`reporting.stats.paired_difference`); a difference is called significant only when the
   hull of both intervals excludes 0;
4. **fine-grained measures** per row: negative discrimination by kind, and twin accuracy per
   factor (:mod:`evaluation.discrimination`);

and writes ``docs/synthetic_benchmark.md`` and ``docs/bench_synthetic.json``. Every choice
(epochs, augmentation) was made on the val split (``benchmarks/synthetic_selection.py``); nothing
here is selected on test.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from reporting.stats import mean_std, paired_difference  # noqa: E402
from trainers.backbones.small_clip.recipe import POSITIVE_CONTROL  # noqa: E402  (docs/synthetic_testbed.md)

DATASET_CONFIG = "configs/datasets/fdrd_synth.yaml"
KEYS = ("i2t_R@1", "i2t_R@5", "t2i_R@1", "t2i_R@5", "rsum")
DIFF_METRICS = ("i2t_R@1", "t2i_R@1", "rsum")
GATES = {"image_probe": 0.90, "variant_cosine": 0.95, "zero_shot": (0.40, 0.80), "upper_bound_gap": 20.0}


@dataclass(frozen=True)
class Row:
    """One line of the table: a trainer with a config and options."""

    name: str
    trainer: str
    config: str
    opts: tuple[str, ...] = ()
    role: str = "method"  # reference | method | ablation
    seeded: bool = True  # False: deterministic (zero-shot), run once and paired with every seed
    minutes: float = 1.0  # one run's wall time on one core (measured); only orders the jobs, longest first
    extended: bool = False  # run only with --extended (the table's budget: see the module docstring)

    @property
    def slug(self) -> str:
        return "".join(ch if ch.isalnum() else "_" for ch in self.name).strip("_").lower()


CFG = "synth"  # the synthetic configs: configs/trainers/<trainer>/synth.yaml (equal budgets, chosen on val)
ROWS = (
    Row("zero-shot CLIP", "ZeroshotCLIP", CFG, role="reference", seeded=False, minutes=0.7),
    Row("full fine-tuning (upper bound)", "FullFineTune", CFG, role="reference", minutes=1.8),
    Row("CoOp", "CoOp", CFG, minutes=0.9),
    Row("CLIP-Adapter", "CLIP_Adapter", CFG, minutes=0.7),
    Row("MaPLe", "MaPLe", CFG, minutes=1.3),
    Row("DCAR", "DCAR", CFG, minutes=3.0),
    Row("2 + DTR (no L_cate)", "DCAR", CFG, ("TRAINER.DCAR.CATE.LAMBDA", "0.0"), "ablation", minutes=1.7),
    Row("3 + L_cate, category negatives, alpha 0", "DCAR", CFG,
        ("DATASET.FDRD.NUM_ATTRIBUTE_NEGATIVES", "0", "TRAINER.DCAR.CATE.ALPHA", "0.0"), "ablation", minutes=2.7),
    Row("4 + attribute negatives, alpha 0", "DCAR", CFG, ("TRAINER.DCAR.CATE.ALPHA", "0.0"), "ablation", minutes=2.9),
    Row("6 full, text-only prompts", "DCAR", CFG, ("TRAINER.DCAR.VISUAL_PROMPTS", "False"), "ablation", minutes=2.4,
        extended=True),
    Row("7 full, CAA = identity", "DCAR", CFG, ("TRAINER.DCAR.CAA.TYPE", "none"), "ablation", minutes=2.9,
        extended=True),
)
REFERENCE_METHOD, REFERENCE_ABLATION = "MaPLe", "DCAR"  # MaPLe is ablation row 1 (prompts only, L_con)
# One component at a time (docs/method.md §10): each row against the row without that component.
COMPONENT_STEPS = (("2 + DTR (no L_cate)", "MaPLe", "DTR"),
                   ("3 + L_cate, category negatives, alpha 0", "2 + DTR (no L_cate)", "L_cate with category negatives"),
                   ("4 + attribute negatives, alpha 0", "3 + L_cate, category negatives, alpha 0", "attribute negatives"),
                   ("DCAR", "4 + attribute negatives, alpha 0", "category-matching weight alpha"),
                   ("DCAR", "6 full, text-only prompts", "visual prompts"),
                   ("DCAR", "7 full, CAA = identity", "CAA module"))
COMPARISONS = ([(r.name, REFERENCE_METHOD) for r in ROWS if r.role != "ablation" and r.name != REFERENCE_METHOD]
               + [(REFERENCE_METHOD, REFERENCE_ABLATION)]
               + [(r.name, REFERENCE_ABLATION) for r in ROWS if r.role == "ablation"])


def already_finished(argv: list[str]) -> bool:
    """Whether ``train.py argv`` would only say "Finished" (its folder has ``results.json`` from
    this very configuration), decided with train.py's own checks in this process, so that a rerun
    starts no process for a finished run."""
    if "--eval-only" in argv:
        return False
    import run_folder
    import train

    with contextlib.chdir(ROOT):
        cfg = train.setup_cfg(train.build_parser().parse_args(argv))
        if not os.path.isfile(os.path.join(cfg.OUTPUT_DIR, "results.json")):
            return False
        try:
            run_folder.check_run_identity(cfg)
        except ValueError:  # another configuration: train.py itself says so
            return False
    return True


def run_jobs(jobs: list[tuple[str, list[str]]], workers: int, env: dict) -> int:
    """Run ``train.py`` jobs, ``workers`` at a time; return how many were already finished."""
    finished = [job for job in jobs if already_finished(job[1])]
    for out_dir, _ in finished:
        print(f"done {os.path.relpath(out_dir, ROOT)} (finished earlier, reused)", flush=True)
    pending, running, reused = [job for job in jobs if job not in finished], [], len(finished)
    while pending or running:
        while pending and len(running) < workers:
            out_dir, argv = pending.pop(0)
            os.makedirs(out_dir, exist_ok=True)
            log = open(os.path.join(out_dir, "benchmark_stdout.txt"), "w", encoding="utf-8")
            proc = subprocess.Popen([sys.executable, "train.py", *argv], cwd=ROOT, env=env, stdout=log,
                                    stderr=subprocess.STDOUT)
            running.append((proc, out_dir, log))
        time.sleep(0.5)
        for entry in list(running):
            proc, out_dir, log = entry
            if proc.poll() is None:
                continue
            running.remove(entry)
            log.close()
            text = open(os.path.join(out_dir, "benchmark_stdout.txt"), encoding="utf-8").read()
            if proc.returncode:
                raise SystemExit(f"run {out_dir} failed (exit {proc.returncode}):\n{text[-3000:]}")
            reused += text.startswith("Finished: ")
            print(f"done {os.path.relpath(out_dir, ROOT)} ({len(pending)} waiting, {len(running)} running)", flush=True)
    return reused


def backbone_tag(name: str) -> str:
    """A short digest of the backbone's weights file: runs made with other weights under the same
    name (a rebuilt ``synth-small``) are never reused."""
    from trainers.backbones import locate

    return locate(name).sha256[:10]


def run_settings(a: argparse.Namespace) -> tuple[dict, list[str]]:
    """The FDRDSynth keys and the ``train.py`` options every run of a benchmark shares: the
    backbone at its input size, the shots, the data seed (``a.quick``: the tiny setting, 3 shots and
    one epoch). Sets ``a.backbone_tag`` and, quick, ``a.shots``."""
    from trainers.backbones import load_clip

    resolution = load_clip(a.backbone).visual.input_resolution
    a.backbone_tag = backbone_tag(a.backbone)
    spec_keys = {"SEED": a.data_seed, "IMAGE_SIZE": resolution}
    if a.quick:
        spec_keys.update(NUM_DOMAINS=2, CLASSES_PER_DOMAIN=4, TRAIN_PER_CLASS=5, TEST_IMAGES_PER_DOMAIN=24)
        a.shots = 3
    common = ["MODEL.BACKBONE.NAME", a.backbone, "INPUT.SIZE", f"({resolution}, {resolution})", "DATASET.NUM_SHOTS",
              str(a.shots), *[x for k, v in spec_keys.items() for x in (f"DATASET.FDRD_SYNTH.{k}", str(v))],
              *getattr(a, "opts", [])]
    if a.quick:
        common += ["OPTIM.MAX_EPOCH", "1"]
    return spec_keys, common


def run_arguments(doc: str, seeds: list[int], runs: str, name: str) -> argparse.ArgumentParser:
    """The command line of a benchmark that trains on FDRDSynth: seeds, data seed, shots, workers,
    backbone, data and run folders, ``docs/<name>.md`` and ``docs/bench_<name>.json``, ``--quick``."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=seeds)
    p.add_argument("--data-seed", type=int, default=0, help="FDRDSynth generator seed (a fresh draw of the data)")
    p.add_argument("--shots", type=int, default=16)
    p.add_argument("--workers", type=int, default=2, help="train.py processes at once (one CPU thread each)")
    p.add_argument("--backbone", default="synth-small")
    p.add_argument("--data", default=os.path.join(ROOT, "data"))
    p.add_argument("--runs", default=os.path.join(ROOT, "output", runs))
    p.add_argument("--out", default=os.path.join(ROOT, "docs", f"{name}.md"))
    p.add_argument("--json", default=os.path.join(ROOT, "docs", f"bench_{name}.json"))
    p.add_argument("--quick", action="store_true", help="a tiny setting (what the tests exercise)")
    return p


def run_folder(a: argparse.Namespace, row: Row, seed: int) -> str:
    return os.path.join(a.runs, f"data{a.data_seed}-{a.backbone_tag}", row.slug, f"seed{seed}")


def job(row: Row, seed: int, a: argparse.Namespace, common: list[str]) -> tuple[str, list[str]]:
    out = run_folder(a, row, seed)
    argv = ["--root", a.data, "--seed", str(seed), "--trainer", row.trainer, "--dataset-config-file", DATASET_CONFIG,
            "--config-file", f"configs/trainers/{row.trainer}/{row.config}.yaml", "--output-dir", out,
            *common, *row.opts]
    return out, argv


def run_seconds(out: str) -> float:
    """A run's own wall time, from the last "Elapsed: H:MM:SS" of its log.txt (0 when absent)."""
    try:
        with open(os.path.join(out, "log.txt"), encoding="utf-8") as f:
            stamps = [line.split()[-1] for line in f if line.startswith("Elapsed: ")]
    except FileNotFoundError:
        return 0.0
    if not stamps:
        return 0.0
    h, m, sec = (int(x) for x in stamps[-1].split(":"))
    return 3600.0 * h + 60.0 * m + sec


def load(out: str) -> dict:
    with open(os.path.join(out, "results.json"), encoding="utf-8") as f:
        return json.load(f)


def row_results(row: Row, seeds: list[int], a: argparse.Namespace) -> list[dict]:
    """One results.json per seed (the single zero-shot run stands for every seed)."""
    outs = [run_folder(a, row, s if row.seeded else seeds[0]) for s in seeds]
    return [load(o) for o in outs]


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
    from benchmarks.testbed import Frozen, oracle_table, probe_table, read_split
    from trainers.backbones import load_clip

    frozen = Frozen(load_clip(a.backbone))
    test = read_split(folder, "test")
    return probe_table(frozen, read_split(folder, "train"), test, a.text_sample), oracle_table(test)


def markdown(report: dict) -> str:
    from tabulate import tabulate

    s = report["settings"]
    lines = [
        "# Synthetic benchmark (FDRDSynth, small pretrained CLIP) — not FDRD",
        "",
        "Generated by `" + report["command"] + "` "
        f"in {report['runtime_s'] / 60:.1f} min on {s['machine']} ({report['runs_reused']} of {report['runs']} runs reused; "
        f"the runs themselves took {report['runs_time_s'] / 60:.0f} min of one core each, summed). "
        "Numbers on synthetic data: they test the implementation and the method's mechanisms, and say nothing about "
        "real FDRD.",
        "",
        f"Data: FDRDSynth, data seed {report['data_seed']}, {s['domains']} domains x {s['classes_per_domain']} "
        f"subcategories, {s['shots']} shots per class for training; test galleries of "
        + ", ".join(f"{d} {n:,}" for d, n in report["test_images_per_domain"].items())
        + f" images (twin groups). Seeds {', '.join(map(str, report['seeds']))}. Backbone `{s['backbone']}`. "
        f"Every trainable method: {s['budget']}.",
        "",
        "## 1. What the frozen backbone knows",
        "",
        tabulate([[f, f"{r['image_probe']:.3f}", f"{r['text_probe']:.3f}", f"{r['chance']:.3f}",
                   f"{r['variant_cosine']:.3f}", f"{r['zero_shot']:.3f}", f"{r['zero_shot_chance']:.3f}"]
                  for f, r in report["probe"].items()],
                 headers=["factor", "image probe", "text probe", "chance", "variant cosine", "zero-shot", "chance"],
                 tablefmt="github"),
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
              tabulate([[k, f"{v:.1f}"] for k, v in report["oracle"].items()], headers=["factors matched", "R@1"],
                       tablefmt="github"), "", "## 2. Rows (mean ± std over seeds, AVG over domains)", ""]
    table = []
    for name, r in report["rows"].items():
        table.append([name] + [fmt(*r["summary"][k]) for k in KEYS])
    lines += [tabulate(table, headers=["row"] + list(KEYS), tablefmt="github"), ""]
    kinds = sorted({k for r in report["negative_discrimination"].values() for k in r})
    lines += ["## 3. Negative discrimination (share of test images whose caption beats every negative of a kind, %)", "",
              tabulate([[n] + [fmt(*r[k]) if k in r else "-" for k in kinds]
                        for n, r in report["negative_discrimination"].items()],
                       headers=["row"] + [k.replace("negdisc_", "") for k in kinds], tablefmt="github"), ""]
    factors = sorted({k.split("_", 2)[2] for r in report["twins"].values() for k in r})
    lines += ["## 4. Twin accuracy per factor (i2t / t2i, %)", "",
              tabulate([[n] + [f"{r.get('twin_i2t_' + f, (0,))[0]:.1f} / {r.get('twin_t2i_' + f, (0,))[0]:.1f}"
                               for f in factors] for n, r in report["twins"].items()],
                       headers=["row"] + factors, tablefmt="github"), ""]
    lines += ["## 5. Paired differences (95% intervals: over seeds (t), over test items (bootstrap); "
              "significant when their hull excludes 0)", ""]
    diff_rows = []
    for d in report["differences"]:
        diff_rows.append([f"{d['row']} − {d['reference']}", d["metric"], f"{d['mean']:+.2f}",
                          "[{:+.2f}, {:+.2f}]".format(*d["ci95_seeds"]), "[{:+.2f}, {:+.2f}]".format(*d["ci95_items"]),
                          "yes" if d["significant"] else "no"])
    lines += [tabulate(diff_rows, headers=["comparison", "metric", "mean", "seeds", "items", "significant"],
                       tablefmt="github"), ""]
    lines += ["## 6. One component at a time (each row against the row without that component)", "",
              tabulate([[c["component"], f"{c['row']} − {c['reference']}", c["metric"], f"{c['mean']:+.2f}",
                         "[{:+.2f}, {:+.2f}]".format(*c["ci95"]), "yes" if c["significant"] else "no"]
                        for c in report["components"]],
                       headers=["component", "comparison", "metric", "mean", "95% interval", "significant"],
                       tablefmt="github"), ""]
    lines += ["## 7. What the numbers say (generated)", ""] + [f"- {s}" for s in report["verdicts"]] + [""]
    return "\n".join(lines)


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
    return out


def main() -> None:
    p = run_arguments(__doc__, [1, 2, 3, 4, 5], "bench_synthetic", "synthetic_benchmark")
    p.add_argument("--text-sample", type=int, default=300, help="test items for the text gates")
    p.add_argument("--extended", action="store_true",
                   help="also ablation rows 6 (text-only prompts) and 7 (CAA = identity): about 13 min more")
    p.add_argument("--opts", nargs="*", default=[], help="KEY VALUE pairs for every run")
    a = p.parse_args()
    start = time.time()
    import torch

    if a.workers > 1:
        torch.set_num_threads(1)  # the probes share the cores with the workers
    from datasets.fdrd.synth import SynthSpec, ensure_generated
    from plugins import default_cfg

    spec_keys, common = run_settings(a)
    if a.quick:
        a.text_sample = 12
    c = default_cfg().DATASET.FDRD_SYNTH
    for k, v in spec_keys.items():
        c[k] = v
    spec = SynthSpec.from_cfg(c)
    folder = os.path.join(a.data, ensure_generated(os.path.abspath(a.data), c.DIR, spec))
    rows = [row for row in ROWS if a.extended or not row.extended]
    jobs = [job(row, s, a, common) for row in sorted(rows, key=lambda r: -r.minutes)  # longest first: a short tail
            for s in (a.seeds if row.seeded else a.seeds[:1])]
    env = dict(os.environ, OMP_NUM_THREADS="1" if a.workers > 1 else os.environ.get("OMP_NUM_THREADS", ""))
    with ThreadPoolExecutor(1) as pool:  # the probes run beside the first training runs
        probe_future = pool.submit(probe_section, a, folder)
        reused = run_jobs(jobs, a.workers, {k: v for k, v in env.items() if v != ""})
        probe, oracle = probe_future.result()
    print(json.dumps(probe, indent=1), flush=True)
    results = {row.name: row_results(row, a.seeds, a) for row in rows}
    report = summarise(a, results, probe, oracle, spec)
    report.update(runtime_s=time.time() - start, runs=len(jobs), runs_reused=reused,
                  runs_time_s=sum(run_seconds(out) for out, _ in jobs),
                  command="python benchmarks/synthetic_benchmark.py " + " ".join(sys.argv[1:]))
    report["verdicts"] = verdicts(report)
    for path, text in ((a.json, json.dumps(report, indent=1)), (a.out, markdown(report))):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    print(markdown(report))


def summarise(a: argparse.Namespace, results: dict[str, list[dict]], probe: dict, oracle: dict, spec) -> dict:
    """The report: rows per seed and summarised, fine-grained measures, paired differences, gates."""
    rows, negdisc, twins = {}, {}, {}
    by_name = {row.name: row for row in ROWS if row.name in results}
    for name, runs in results.items():
        metrics = [r["metrics"] for r in runs]
        keys = [k for k in metrics[0] if "/" not in k]
        summary = {k: mean_std([m[k] for m in metrics]) for k in keys}
        row = by_name[name]
        rows[name] = {"trainer": row.trainer, "config": row.config, "opts": list(row.opts), "role": row.role,
                      "per_seed": {str(s): {k: m[k] for k in keys} for s, m in zip(a.seeds, metrics)},
                      "summary": summary}
        negdisc[name] = {k: v for k, v in summary.items() if k.startswith("negdisc_")}
        twins[name] = {k: v for k, v in summary.items() if k.startswith("twin_")}
    ranks = {name: [r["item_ranks"] for r in runs] for name, runs in results.items()}
    differences = []
    for left, right in ((x, y) for x, y in COMPARISONS if x in results and y in results):
        label = "1 prompts only (= MaPLe)" if (left, right) == (REFERENCE_METHOD, REFERENCE_ABLATION) else left
        for metric in DIFF_METRICS:
            differences.append({"row": label, "reference": right, **paired_difference(ranks[left], ranks[right], metric)})
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
        "rows": rows, "negative_discrimination": negdisc, "twins": twins, "differences": differences,
        "components": components,
        "settings": {"domains": spec.num_domains, "classes_per_domain": spec.classes_per_domain, "shots": a.shots,
                     "backbone": a.backbone, "machine": f"{os.cpu_count()} CPU cores, {a.workers} worker(s)",
                     "budget": "the same epochs, batch and LR schedule (configs/trainers/*/synth.yaml)"},
    }


if __name__ == "__main__":
    main()
