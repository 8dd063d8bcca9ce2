"""Choosing the synthetic benchmark's training recipe on the val split, the same for every method.

    python benchmarks/synthetic_selection.py [--seeds 1] [--epochs 5 10] [--workers 2]

Each compared trainable method of ``methods.py`` runs with every candidate -- epochs x
augmentation (none, or a caption-safe translation of at most ``INPUT.CROP_PADDING`` px) -- and is
scored by its validation RSUM after the last epoch (``TEST.SPLIT val``: the final evaluation is
on val and the test split is never read). The epochs are capped at 10 by the benchmark's budget
(46 runs in at most 45 minutes on 2 CPU cores), a limit fixed before any candidate was run.
The candidate with the best mean val RSUM over the methods is the recipe of every
``configs/trainers/*/synth.yaml``; the table is written to ``docs/results/synthetic_selection.md`` (the
committed one was run when the table held CoOp, CLIP-Adapter, MaPLe and DCAR; the configs have since
been tuned by ``benchmarks/tuning.py``).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from benchmarks.runs import DATASET_CONFIG, backbone_tag, run_jobs  # noqa: E402
from methods import trainers  # noqa: E402

METHODS = trainers(trains=True, reference=False)  # methods.py
AUGMENTATIONS = {"none": '["normalize"]', "translate": '["random_crop", "normalize"]'}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[1])
    p.add_argument("--epochs", type=int, nargs="+", default=[5, 10])
    p.add_argument("--shots", type=int, default=16)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--data", default=os.path.join(ROOT, "data"))
    p.add_argument("--runs", default=os.path.join(ROOT, "output", "synthetic_selection"))
    p.add_argument("--out", default=os.path.join(ROOT, "docs", "results", "synthetic_selection.md"))
    a = p.parse_args()
    start = time.time()
    candidates = [(e, aug) for e in a.epochs for aug in AUGMENTATIONS]
    jobs, where, tag = [], {}, backbone_tag("synth-small")
    for method in METHODS:
        for epochs, aug in candidates:
            for seed in a.seeds:
                out = os.path.join(a.runs, tag, method, f"ep{epochs}_{aug}", f"seed{seed}")
                where[(method, epochs, aug, seed)] = out
                jobs.append((out, ["--root", a.data, "--seed", str(seed), "--trainer", method,
                                   "--dataset-config-file", DATASET_CONFIG,
                                   "--config-file", f"configs/trainers/{method}/synth.yaml", "--output-dir", out,
                                   "DATASET.NUM_SHOTS", str(a.shots), "OPTIM.MAX_EPOCH", str(epochs),
                                   "INPUT.TRANSFORMS", AUGMENTATIONS[aug], "TEST.SPLIT", "val"]))
    env = dict(os.environ, OMP_NUM_THREADS="1")
    run_jobs(jobs, a.workers, env)

    def val_rsum(out: str) -> float:
        with open(os.path.join(out, "results.json"), encoding="utf-8") as f:
            res = json.load(f)
        if res["split"] != "val":
            raise SystemExit(f"{out}: expected a final evaluation on val, got {res['split']}")
        return res["metrics"]["rsum"]

    table = {c: {m: sum(val_rsum(where[(m, *c, s)]) for s in a.seeds) / len(a.seeds) for m in METHODS} for c in candidates}
    best = max(table, key=lambda c: sum(table[c].values()))
    from tabulate import tabulate

    rows = [[f"{e} epochs, {aug}"] + [f"{table[(e, aug)][m]:.1f}" for m in METHODS]
            + [f"{sum(table[(e, aug)].values()) / len(METHODS):.1f}", "**chosen**" if (e, aug) == best else ""]
            for e, aug in candidates]
    text = ("# Choosing the synthetic recipe on the val split\n\n"
            f"`python benchmarks/synthetic_selection.py {' '.join(sys.argv[1:])}` ({(time.time() - start) / 60:.1f} min). "
            f"Val RSUM after the last epoch, seeds {a.seeds}, {a.shots} shots; the test split is not read.\n\n"
            + tabulate(rows, headers=["candidate", *METHODS, "mean", ""], tablefmt="github") + "\n\n"
            f"Chosen for every method: {best[0]} epochs, augmentation `{best[1]}` "
            f"(INPUT.TRANSFORMS {AUGMENTATIONS[best[1]]}).\n")
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w", encoding="utf-8") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
