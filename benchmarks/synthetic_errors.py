"""Where top-1 text-to-image errors come from on FDRDSynth: wrong subcategory, and which of the
five attributes differ between the query caption and the top-ranked image.

    python benchmarks/synthetic_errors.py --trainer ZeroshotCLIP --config configs/trainers/ZeroshotCLIP/tiny.yaml
    python benchmarks/synthetic_errors.py --trainer DCAR --config configs/trainers/DCAR/tiny_ep5_batch16_2ctx.yaml \
        --model-dir output/fdrd_synth/DCAR/tiny_ep5_batch16_2ctx_16shots/seed1
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import engine  # noqa: E402
from datasets.fdrd.synth import COLOURS, PATTERNS, SIZES, WHERE  # noqa: E402
from engine.plugins import default_cfg  # noqa: E402
from evaluation.ranking import normalize  # noqa: E402


def caption_attributes(caption: str) -> dict[str, str]:
    """The five attributes an FDRDSynth caption states."""
    body = caption.split(".", 1)[1]
    background = re.search(r"on a (\w+) background", body, re.I).group(1)
    rest = re.sub(rf"on a {background} background", "", body, flags=re.I)
    return {"colour": next(c for c in COLOURS if re.search(rf"\b{c}\b", rest)),
            "background": background,
            "size": next(s for s in SIZES if re.search(rf"\b{s}\b", rest)),
            "position": next(p for p, w in WHERE.items() if w in body),
            "pattern": next(p for p in PATTERNS if p in body)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--trainer", required=True)
    p.add_argument("--config", required=True)
    p.add_argument("--model-dir", default="")
    p.add_argument("--root", default=os.path.join(ROOT, "data"))
    a = p.parse_args()
    cfg = default_cfg()
    cfg.merge_from_file(os.path.join(ROOT, "configs/datasets/fdrd_synth.yaml"))
    cfg.merge_from_file(a.config)
    cfg.merge_from_list(["TRAINER.NAME", a.trainer, "DATASET.ROOT", a.root, "OUTPUT_DIR", tempfile.mkdtemp(),
                         "SEED", "1", "VERBOSE", "False"])
    trainer = engine.build_trainer(cfg)
    trainer.load_model(a.model_dir)
    trainer.test()
    last = trainer.evaluator.last
    errors, wrong_class = 0, 0
    mismatch = dict.fromkeys(("colour", "background", "size", "position", "pattern"), 0)
    total = len(last["items"])
    for domain in dict.fromkeys(it.domain_name for it in last["items"]):
        items = [it for it in last["items"] if it.domain_name == domain]
        idx = [i for i, it in enumerate(last["items"]) if it.domain_name == domain]
        img = normalize(last["features"][idx])
        txt = normalize(torch.stack([last["caption_features"][it.caption] for it in items]))
        for q, j in enumerate((txt @ img.T).argmax(1).tolist()):
            if items[j].caption == items[q].caption:
                continue
            errors += 1
            wrong_class += items[j].label != items[q].label
            qa, ja = caption_attributes(items[q].caption), caption_attributes(items[j].caption)
            for k in mismatch:
                mismatch[k] += qa[k] != ja[k]
    print(f"{a.trainer}: {errors} of {total} text queries miss at rank 1; among them the top image has "
          f"another subcategory {wrong_class} times; attributes that differ: "
          + ", ".join(f"{k} {v}" for k, v in mismatch.items()))


if __name__ == "__main__":
    main()
