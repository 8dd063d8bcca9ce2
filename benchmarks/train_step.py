"""Training-step time and peak memory of a trainer at a given CLIP architecture (random weights).

    python benchmarks/train_step.py [--arch vit_b32|tiny] [--batch 32] [--steps 3] [--trainer DCAR]
                                    [--variants full no_dtr no_cate no_visual prompts_only] [--json out.json]

Each variant runs in a fresh process on FDRDSynth (generated under a temporary root): the
trainer is built, one warm-up step is taken, then ``--steps`` timed steps; peak RSS (CPU) or
peak CUDA memory is reported.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from benchmarks.common import report, run_child  # noqa: E402
ARCHS = {  # clip.model.CLIP arguments
    "vit_b32": dict(embed_dim=512, image_resolution=224, vision_layers=12, vision_width=768, vision_patch_size=32,
                    context_length=77, vocab_size=49408, transformer_width=512, transformer_heads=8, transformer_layers=12),
    "tiny": dict(embed_dim=32, image_resolution=32, vision_layers=2, vision_width=64, vision_patch_size=8,
                 context_length=77, vocab_size=49408, transformer_width=64, transformer_heads=1, transformer_layers=2),
}
VARIANTS = {
    "full": [],
    "no_dtr": ["TRAINER.DCAR.DTR.ENABLED", "False"],
    "no_cate": ["TRAINER.DCAR.CATE.LAMBDA", "0.0"],
    "no_visual": ["TRAINER.DCAR.VISUAL_PROMPTS", "False"],
    "prompts_only": ["TRAINER.DCAR.DTR.ENABLED", "False", "TRAINER.DCAR.CATE.LAMBDA", "0.0"],
}


def make_checkpoint(arch: str, folder: str) -> str:
    import torch
    from clip.model import CLIP

    path = os.path.join(folder, f"random_{arch}.pt")
    if not os.path.exists(path):
        torch.manual_seed(0)
        torch.save(CLIP(**ARCHS[arch]).state_dict(), path)
    return path


def run_variant(args: argparse.Namespace, variant: str, ckpt: str, data: str) -> dict:
    import torch

    import engine
    from engine.plugins import default_cfg

    cfg = default_cfg()
    cfg.merge_from_file(os.path.join(ROOT, "configs/datasets/fdrd_synth.yaml"))
    cfg.merge_from_file(os.path.join(ROOT, "configs/trainers/DCAR/tiny_ep5_batch16_2ctx.yaml"))
    res = ARCHS[args.arch]["image_resolution"]
    cfg.merge_from_list(["TRAINER.NAME", args.trainer, "DATASET.ROOT", data, "OUTPUT_DIR", os.path.join(data, "out"),
                         "MODEL.BACKBONE.NAME", ckpt, "INPUT.SIZE", f"({res}, {res})", "DATASET.NUM_SHOTS", "2",
                         "DATALOADER.TRAIN_X.BATCH_SIZE", str(args.batch), "VERBOSE", "False",
                         "TRAINER.DCAR.PROMPT_DEPTH", str(args.depth), "TRAINER.DCAR.PREC", args.prec,
                         *VARIANTS[variant]])
    engine.set_random_seed(1)
    t0 = time.perf_counter()
    trainer = engine.build_trainer(cfg)
    build_s = time.perf_counter() - t0
    trainer.set_model_mode("train")
    trainer.num_batches, trainer.batch_idx = 10**6, 0
    batch = next(iter(trainer.train_loader_x))
    cuda = trainer.device.type == "cuda"
    trainer.forward_backward(batch)  # warm-up
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(args.steps):
        t = time.perf_counter()
        trainer.forward_backward(batch)
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    step = sorted(times)[len(times) // 2]
    peak = torch.cuda.max_memory_allocated() if cuda else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"arch": args.arch, "trainer": args.trainer, "variant": variant, "batch": len(batch["img"]),
            "device": str(trainer.device), "build_s": round(build_s, 1), "step_s": round(step, 3),
            "pairs_per_s": round(len(batch["img"]) / step, 1), "peak_mib": round(peak / 2**20)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", default="vit_b32", choices=list(ARCHS))
    p.add_argument("--trainer", default="DCAR")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--depth", type=int, default=9)
    p.add_argument("--prec", default="amp")
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--json")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--workdir", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        ckpt = make_checkpoint(args.arch, args.workdir)
        print(json.dumps(run_variant(args, args.child, ckpt, os.path.join(args.workdir, "data"))))
        return
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for v in args.variants:
            rows.append(run_child([__file__, "--arch", args.arch, "--trainer", args.trainer, "--batch", str(args.batch),
                                   "--steps", str(args.steps), "--depth", str(args.depth), "--prec", args.prec,
                                   "--child", v, "--workdir", work]))
    report(rows, args.json)


if __name__ == "__main__":
    main()
