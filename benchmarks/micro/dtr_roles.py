"""Which words DTR up-weights, per word role, for every DTR setting, on the synthetic testbed.

    python benchmarks/micro/dtr_roles.py           # -> docs/results/dtr_roles.md, docs/results/bench_dtr_roles.json

FDRDSynth's captions come with their ground truth, so every caption word has a role: the class
name, a word saying one of the five attributes (colour, size, background, position, pattern), the
object noun, a function word, or the rest (template and filler words, which no image grounds).
For the training pairs of the synthetic benchmark (data seed 0, 16 shots) and the small CLIP, this
computes the DTR weights with each similarity mode (``word``, ``contextual``, ``patch`` max and
mean) from the frozen CLIP, with the noise floor, and from the current encoders of a trained DCAR
(the benchmark's seed-1 checkpoint, when present), and reports per role the mean weight and the
shares at the clamp limits. The factors the frozen backbone already solves and those it does not
are in docs/results/synthetic_benchmark.md, "What the frozen backbone knows".
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import replace

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

FUNCTION_WORDS = frozenset({"a", "an", "the", "this", "is", "of", "with", "on", "in", "at", "to", "it", "and", "for"})
SETTINGS = {  # name -> (DTRSettings overrides, source)
    "word (default)": ({}, "frozen"),
    "contextual": ({"mode": "contextual"}, "frozen"),
    "patch, max": ({"mode": "patch"}, "frozen"),
    "patch, mean": ({"mode": "patch", "pool": "mean"}, "frozen"),
    "word, noise floor 0.02": ({"floor": 0.02}, "frozen"),
    "word, current encoders (trained DCAR, seed 1)": ({}, "current"),
}


def roles_of(caption: str, factors: dict[str, str], distinct: dict) -> list[str]:
    """The role of each word of ``caption`` (in the tokenizer's segmentation)."""
    from datasets.fdrd.synth_world import KINDS
    from datasets.text import words

    by_word = {w: "class name" for w, _ in words(factors["subcategory"])}
    nouns = {k.noun for k in KINDS}
    for factor, values in distinct.items():
        by_word.update((w, factor) for w in values[factors[factor]])
    return [by_word.get(w) or ("noun" if w in nouns else "function word" if w in FUNCTION_WORDS
                               else "other (template, filler)" if any(ch.isalnum() for ch in w) else "punctuation")
            for w, _ in words(caption)]


def word_weights(row, caption: str) -> list[float]:
    """Each word's weight: the mean over its BPE pieces of the [77] token weights."""
    from datasets.text import words

    out, pos = [], 1
    for _, n in words(caption):
        out.append(float(row[pos:pos + n].mean()) if pos + n <= len(row) else 1.0)
        pos += n
    return out


def build_trainer(data: str, out: str):
    import engine
    from configuration import build_cfg

    files = [os.path.join(ROOT, "configs/datasets/fdrd_synth.yaml"), os.path.join(ROOT, "configs/trainers/DCAR/synth.yaml")]
    cfg = build_cfg(files,
                    ["MODEL.BACKBONE.NAME", "synth-small", "INPUT.SIZE", "(64, 64)", "DATASET.NUM_SHOTS", "16",
                     "DATASET.FDRD_SYNTH.SEED", "0", "DATASET.FDRD_SYNTH.IMAGE_SIZE", "64"],
                    {"TRAINER.NAME": "DCAR", "DATASET.ROOT": data, "OUTPUT_DIR": out, "SEED": 1, "VERBOSE": False})
    engine.set_random_seed(1)
    return engine.build_trainer(cfg)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=os.path.join(ROOT, "data"))
    p.add_argument("--trained", default="", help="a trained DCAR run folder (default: the benchmark's seed 1)")
    p.add_argument("--out", default=os.path.join(ROOT, "docs", "results", "dtr_roles.md"))
    p.add_argument("--json", default=os.path.join(ROOT, "docs", "results", "bench_dtr_roles.json"))
    a = p.parse_args()
    start = time.time()
    import glob

    import torch

    from benchmarks.micro.testbed import read_split
    from datasets.fdrd.synth_world import distinctive_words
    from trainers.dcar.dtr import DTRSettings, TokenReweighter

    torch.set_num_threads(1)
    t = build_trainer(os.path.abspath(a.data), tempfile.mkdtemp())
    items = t.train_loader_x.dataset.data_source
    folder = os.path.dirname(os.path.dirname(os.path.dirname(items[0].impath)))
    truth = {os.path.realpath(it.image): it.factors for it in read_split(folder, "train")}
    distinct = distinctive_words()
    roles = [roles_of(it.caption, truth[os.path.realpath(it.impath)], distinct) for it in items]
    trained = a.trained or next(iter(sorted(glob.glob(os.path.join(ROOT, "output/bench_synthetic/data0-*/dcar/seed1")))), "")
    report = {}
    base = DTRSettings.from_cfg(t.cfg.TRAINER.DCAR.DTR)
    for name, (over, source) in SETTINGS.items():
        if source == "current":
            if not os.path.isdir(trained):
                print(f"skipped {name!r}: no trained DCAR run at {trained!r} (--trained)")
                continue
            t.load_model(trained)
        t.dtr.reweighter = TokenReweighter(replace(base, **over))
        with torch.no_grad():
            w = t.dtr.compute(items, t.model.prompts() if source == "current" else None)
        cap, floor = base.w_max, base.w_min
        by_role = defaultdict(list)
        for row, it, rs in zip(w, items, roles):
            for role, value in zip(rs, word_weights(row, it.caption)):
                by_role[role].append(value)
        report[name] = {role: {"words": len(v), "mean": sum(v) / len(v), "at_cap": sum(x >= cap - 1e-6 for x in v) / len(v),
                               "at_floor": sum(x <= floor + 1e-6 for x in v) / len(v)}
                        for role, v in sorted(by_role.items()) if role != "punctuation"}
    result = {"pairs": len(items), "settings": {k: {"overrides": o, "source": s} for k, (o, s) in SETTINGS.items()},
              "clamp": [base.w_min, base.w_max], "trained_run": os.path.relpath(trained, ROOT) if trained else None,
              "roles": report, "runtime_s": time.time() - start}
    for path, text in ((a.json, json.dumps(result, indent=1)), (a.out, markdown(result))):
        with open(path, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    print(markdown(result))


def markdown(result: dict) -> str:
    from tabulate import tabulate

    roles = sorted({r for v in result["roles"].values() for r in v})
    lines = ["# DTR weights per word role (FDRDSynth training pairs, small CLIP)", "",
             f"Generated by `python benchmarks/micro/dtr_roles.py` in {result['runtime_s'] / 60:.1f} min: "
             f"{result['pairs']} training pairs (data seed 0, 16 shots). Each cell: mean weight of the words of that "
             f"role, then the share at the cap {result['clamp'][1]} / at the floor {result['clamp'][0]}. "
             "Function words: a, an, the, this, is, of, with, on, in, at, to, it, and, for.", "",
             "The config is built as every run's (`configuration.build_cfg`), so images are normalised with the "
             "backbone's own mean/std. Reports made before that builder (until 2026-12-07) built it by hand and "
             "normalised the images with the engine's ImageNet mean/std, which the small CLIP was not trained with.", ""]
    table = [[name] + [f"{v[r]['mean']:.2f} ({100 * v[r]['at_cap']:.0f}% / {100 * v[r]['at_floor']:.0f}%)" if r in v
                       else "-" for r in roles] for name, v in result["roles"].items()]
    lines += [tabulate(table, headers=["setting", *roles], tablefmt="github"), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
