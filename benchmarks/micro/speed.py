"""Speed and memory of every trainer, in one command.

    python benchmarks/micro/speed.py [--archs vit_b32 tiny]
                               [--trainers DCAR MaPLe PromptSRC CoOp CLIP_Adapter CLIP_LoRA ZeroshotCLIP]
                               [--batch 32] [--steps 3] [--before] [--breakdown] [--text] [--fdrd DIR]
                               [--json out.json] [--md out.md] [--opts KEY VALUE ...]

Every measurement runs in a fresh process (so its peak memory is its own) on FDRDSynth generated
in a temporary folder, with a CLIP of the given architecture and random weights, on the GPU when
there is one (the project's policy: fp32 on CPU, AMP on GPU). Training images take a fixed
transform (resize + normalise), so the frozen-feature cache is active where it applies.

* Per trainer and architecture: trainable parameters, training-step time (median of ``--steps``
  after a warm-up step), pairs per second, peak memory (the process's peak RSS on CPU, peak CUDA allocation during the
  steps on GPU), evaluation throughput (images/s through ``model.encode_image`` on 64 ready image
  tensors, i.e. the model without image decoding; captions/s through the evaluator's whole caption
  pass over 512 unique captions), the step's model FLOPs (useful: text up to
  each caption's end-of-text token; executed: what ran), and -- measured in the same process --
  the machine's dense matmul throughput and the ratio of useful FLOP/s to it.
* ``--before``: each trainer again with items 2-3 off (``TRAINER.TEXT_TRIM False``,
  ``TRAINER.FEATURE_CACHE False``): every caption runs all 77 tokens, frozen features are recomputed.
* ``--breakdown``: DCAR's step split into its components, each timed forward + backward alone.
* ``--text``: DCAR's prompted text encoder on FDRD captions (``--fdrd`` = a folder of the released
  caption files; FDRDSynth's captions otherwise): seconds per 1,000 captions with all 77 tokens,
  up to the batch's longest caption, and in length groups; training batches (forward + backward,
  random positives with their negatives) and evaluation batches (forward, 256 captions sorted by
  length, as the evaluator makes them).
* ``--opts``: config options for every trainer built (e.g. ``TRAINER.DCAR.DTR.ENABLED False`` to
  time an ablation).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import tempfile
import time
from typing import Any, Callable

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from benchmarks.micro.common import report, run_child  # noqa: E402
from methods import SYNTH, method, trainers  # noqa: E402

ARCHS = {  # clip.model.CLIP arguments
    "vit_b32": dict(embed_dim=512, image_resolution=224, vision_layers=12, vision_width=768, vision_patch_size=32,
                    context_length=77, vocab_size=49408, transformer_width=512, transformer_heads=8, transformer_layers=12),
    "tiny": dict(embed_dim=32, image_resolution=32, vision_layers=3, vision_width=64, vision_patch_size=8,
                 context_length=77, vocab_size=49408, transformer_width=64, transformer_heads=1, transformer_layers=3),
}
TRAINERS = trainers(speed=True)  # methods.py
BEFORE = ["TRAINER.TEXT_TRIM", "False", "TRAINER.FEATURE_CACHE", "False"]


# ------------------------------------------------------------------------------------------ helpers
def make_checkpoint(arch: str, folder: str) -> str:
    import torch
    from clip.model import CLIP

    from trainers.backbones.files import save_safetensors

    path = os.path.join(folder, f"random_{arch}.safetensors")
    if not os.path.exists(path):
        torch.manual_seed(0)
        save_safetensors(CLIP(**ARCHS[arch]).state_dict(), path, "quick_gelu")  # OpenAI's activation, stated
    return path


def build_trainer(args: argparse.Namespace, trainer: str, opts: list[str]) -> Any:
    import engine
    from configuration import build_cfg

    res = ARCHS[args.arch]["image_resolution"]
    cfg = build_cfg([os.path.join(ROOT, "configs/datasets/fdrd_synth.yaml"), os.path.join(ROOT, method(trainer).config(SYNTH))],
                    ["TRAINER.NAME", trainer, "DATASET.ROOT", os.path.join(args.workdir, "data"),
                     "OUTPUT_DIR", os.path.join(args.workdir, "out"), "MODEL.BACKBONE.NAME",
                     make_checkpoint(args.arch, args.workdir), "INPUT.SIZE", f"({res}, {res})",
                     "INPUT.TRANSFORMS", "['normalize']", "DATASET.NUM_SHOTS", "2",
                     "DATALOADER.TRAIN_X.BATCH_SIZE", str(args.batch), "DATALOADER.TEST.BATCH_SIZE", "64",
                     "VERBOSE", "False", *args.opts, *opts])
    engine.set_random_seed(1)
    return engine.build_trainer(cfg)


def sync(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn: Callable[[], Any], device: Any, repeats: int) -> float:
    """Median seconds of ``fn`` after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        sync(device)
        t = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2]


def peak_mib(device: Any) -> int:
    import torch

    peak = torch.cuda.max_memory_allocated() if device.type == "cuda" else \
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return round(peak / 2**20)


def matmul_throughput(trainer: Any) -> float:
    import torch

    from benchmarks.micro.flops import matmul_flops_per_s

    dtype = trainer.precision.autocast_dtype or torch.float32
    return matmul_flops_per_s(trainer.device, dtype, 8192 if trainer.device.type == "cuda" else 4096)


def caption_pool(args: argparse.Namespace) -> list[tuple[str, tuple[str, ...]]]:
    """(positive, negatives) of every entry of the FDRD caption files in ``--fdrd`` (or FDRDSynth's)."""
    import glob

    from datasets.fdrd.captions import read_caption_file

    folder = args.fdrd or glob.glob(os.path.join(args.workdir, "data", "fdrd_synth", "*", "captions"))[0]
    files = sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.endswith(".json"))
    return [(e.positive, e.negatives) for f in files for e in read_caption_file(f).entries]


def training_step(trainer: Any) -> tuple[dict, Callable[[], Any]]:
    """A batch and a function running one training step on it."""
    trainer.set_model_mode("train")
    trainer.num_batches, trainer.batch_idx = 10**6, 0
    batch = next(iter(trainer.train_loader_x))
    return batch, lambda: trainer.forward_backward(batch)


# ------------------------------------------------------------------------------------------ children
def trainer_row(args: argparse.Namespace) -> dict:
    import torch

    from benchmarks.micro.flops import FlopRecorder

    t0 = time.perf_counter()
    trainer = build_trainer(args, args.trainer, BEFORE if args.mode == "before" else [])
    row: dict[str, Any] = {"arch": args.arch, "trainer": args.trainer, "mode": args.mode, "device": str(trainer.device),
                           "precision": trainer.precision.name, "build_s": round(time.perf_counter() - t0, 1),
                           "trainable_params": sum(p.numel() for n in trainer.get_model_names()
                                                   for p in trainer._models[n].parameters() if p.requires_grad)}
    matmul = matmul_throughput(trainer)
    if trainer.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    if args.trainer != "ZeroshotCLIP":
        batch, step = training_step(trainer)
        with FlopRecorder(trainer.model.clip).recording() as flops:
            step()
        seconds = timed(step, trainer.device, args.steps)
        useful = flops.useful / seconds
        row.update(batch=len(batch["index"]), step_s=round(seconds, 3), pairs_per_s=round(len(batch["index"]) / seconds, 1),
                   useful_gflop=round(flops.useful / 1e9, 1), executed_gflop=round(flops.executed / 1e9, 1),
                   useful_gflops_per_s=round(useful / 1e9, 1))
    trainer.set_model_mode("eval")
    res = ARCHS[args.arch]["image_resolution"]
    images = torch.randn(64, 3, res, res, device=trainer.device)
    with torch.no_grad():
        img_s = timed(lambda: trainer.model.encode_image(images), trainer.device, 2)
    captions = list(dict.fromkeys(p for p, _ in caption_pool(args)))[:512]
    with torch.no_grad():
        txt_s = timed(lambda: trainer.evaluator.encode_captions(captions, trainer.model.encode_text), trainer.device, 1)
    row.update(eval_images_per_s=round(len(images) / img_s, 1), eval_captions_per_s=round(len(captions) / txt_s, 1),
               peak_mib=peak_mib(trainer.device), matmul_gflops_per_s=round(matmul / 1e9, 1))
    if "useful_gflops_per_s" in row:
        row["useful_flop_ratio"] = round(row["useful_gflops_per_s"] * 1e9 / matmul, 3)
    return row


def breakdown_rows(args: argparse.Namespace) -> list[dict]:
    """DCAR's step by component, each forward + backward on its own; the rest is the optimiser,
    gathering and bookkeeping."""
    import torch

    trainer = build_trainer(args, "DCAR", [])
    batch, step = training_step(trainer)
    dev, reps = trainer.device, args.steps
    data = trainer.train_loader_x.dataset.data_source
    idx = batch["index"].tolist()
    items = [data[i] for i in idx]
    images, labels = batch["img"].to(dev), batch["label"].to(dev)
    model, objective = trainer.model, trainer.objective
    weights = trainer.dtr.weights[idx].to(dev)
    pos_ids = trainer.tokens([it.caption for it in items], dev)
    neg_ids = trainer.tokens([s for it in items for s in objective.negatives(it)], dev)
    learner = trainer._models["prompt_learner"]

    def backward_of(fn: Callable[[Any], Any]) -> Callable[[], None]:
        def run() -> None:
            learner.zero_grad()
            with trainer.precision.autocast():
                out = fn(model.make_prompts())
            out.float().square().mean().backward()
        return run

    with torch.no_grad(), trainer.precision.autocast():
        prompts = model.make_prompts()
        img0 = model.image_tower(images, prompts)
        pos0 = model.text_features(pos_ids, weights, prompts)
        cand0 = model.text_features(torch.cat([pos_ids, neg_ids]), prompts=prompts)

    def losses() -> None:
        img, pos, cand = (x.clone().requires_grad_() for x in (img0, pos0, cand0))
        loss = objective(img, pos, items, labels, model.logit_scale, lambda strings: cand, reweighted=True)[0]
        learner.zero_grad()
        loss.backward()

    parts = {
        "prompted image pass": backward_of(lambda p: model.image_tower(images, p)),
        "positive captions (re-weighted)": backward_of(lambda p: model.text_features(pos_ids, weights, p)),
        "negative captions": backward_of(lambda p: model.text_features(neg_ids, prompts=p)),
        "token re-weighting (positives again, unweighted, for L_cate)":
            backward_of(lambda p: model.text_features(pos_ids, prompts=p)),
        "losses (L_con, CAA, L_cate)": losses,
    }
    rows = [{"component": name, "seconds": round(timed(fn, dev, reps), 3)} for name, fn in parts.items()]
    total = timed(step, dev, reps)
    rows.append({"component": "rest (optimiser step, bookkeeping)", "seconds": round(total - sum(r["seconds"] for r in rows), 3)})
    rows.append({"component": "full DCAR step", "seconds": round(total, 3)})
    for r in rows:
        r.update(arch=args.arch, device=str(dev), batch=len(idx), share=f"{100 * r['seconds'] / total:.0f}%")
    return rows


def text_rows(args: argparse.Namespace) -> list[dict]:
    """DCAR's prompted text encoder on FDRD captions: all 77 tokens vs trimmed vs length groups."""
    import torch

    from datasets.text import tokenize
    from trainers.clip_driver import assemble_text, encode_text

    trainer = build_trainer(args, "DCAR", ["TRAINER.DCAR.DTR.ENABLED", "False"])
    dev, clip_model, k = trainer.device, trainer.model.clip, trainer.model.n_ctx
    pool = caption_pool(args)
    rng = random.Random(0)
    policies = {"fixed 77 tokens": dict(trim=False), "up to the batch's longest": dict(trim=True),
                "length groups": dict(trim=True, group_overhead=trainer.precision.text_group_overhead)}
    train_batches = []
    for _ in range(args.steps + 1):
        picked = rng.sample(pool, min(args.batch, len(pool)))
        train_batches.append(tokenize([s for p, negs in picked for s in (p, *negs)], reserved=k)[0].to(dev))
    uniq = list(dict.fromkeys(p for p, _ in pool))
    evals = sorted(rng.sample(uniq, min(1024, len(uniq))), key=lambda s: int(tokenize([s])[0].argmax()))
    eval_batches = [tokenize(evals[b:b + 256], reserved=k)[0].to(dev) for b in range(0, len(evals), 256)]
    lengths = [int(ids.argmax()) + 1 + k for b in train_batches for ids in b]
    rows = []
    for mode, batches, grad in (("training (fwd+bwd)", train_batches, True), ("evaluation (fwd)", eval_batches, False)):
        for name, kw in policies.items():
            def run(kw: dict = kw, batches: list = batches, grad: bool = grad) -> None:
                for ids in batches if not grad else batches[1:]:
                    with torch.set_grad_enabled(grad), trainer.precision.autocast():
                        prompts = trainer.model.prompts()
                        out = encode_text(clip_model, *assemble_text(clip_model, ids, prompts.ctx), prompts.deep_text, **kw)
                    if grad:
                        trainer._models["prompt_learner"].zero_grad()
                        out.float().square().mean().backward()
            seconds = timed(run, dev, 1)
            n = sum(len(b) for b in (batches[1:] if grad else batches))
            rows.append({"arch": args.arch, "device": str(dev), "captions": "FDRD" if args.fdrd else "FDRDSynth",
                         "mean_tokens": round(sum(lengths) / len(lengths), 1), "mode": mode, "path": name,
                         "s_per_1000_captions": round(1000 * seconds / n, 2)})
        base = next(r for r in rows if r["mode"] == mode and r["path"] == "fixed 77 tokens")["s_per_1000_captions"]
        for r in rows:
            if r["mode"] == mode:
                r["vs_fixed_77"] = round(r["s_per_1000_captions"] / base, 2)
    return rows


# ------------------------------------------------------------------------------------------ driver
def write_markdown(tables: dict[str, list], path: str, argv: str) -> None:
    from tabulate import tabulate

    with open(path, "w", encoding="utf-8") as f:
        f.write(f"<!-- written by: python benchmarks/micro/speed.py {argv} -->\n")
        f.write("# Speed benchmark\n\nColumns and method: the docstring of `benchmarks/micro/speed.py` and "
                "[`performance.md`](performance.md).\n")
        for name, rows in tables.items():
            if rows:
                f.write(f"\n### {name}\n\n{tabulate(rows, headers='keys', tablefmt='github')}\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--archs", nargs="+", default=["vit_b32", "tiny"], choices=list(ARCHS))
    p.add_argument("--trainers", nargs="*", default=list(TRAINERS), choices=list(TRAINERS))
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--before", action="store_true", help="also run each trainer with items 2-3 off")
    p.add_argument("--breakdown", action="store_true", help="DCAR's step by component")
    p.add_argument("--text", action="store_true", help="text encoding at FDRD caption lengths vs 77 tokens")
    p.add_argument("--fdrd", default="", help="folder of released FDRD caption files (for --text and captions/s)")
    p.add_argument("--json", help="also write every table to this file")
    p.add_argument("--md", help="also write the tables as Markdown to this file")
    p.add_argument("--opts", nargs="*", default=[], help="KEY VALUE config options for every trainer")
    p.add_argument("--child", choices=["trainer", "breakdown", "text"], help=argparse.SUPPRESS)
    p.add_argument("--arch", default="vit_b32", help=argparse.SUPPRESS)
    p.add_argument("--trainer", default="DCAR", help=argparse.SUPPRESS)
    p.add_argument("--mode", default="after", help=argparse.SUPPRESS)
    p.add_argument("--workdir", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        fn = {"trainer": trainer_row, "breakdown": breakdown_rows, "text": text_rows}[args.child]
        print(json.dumps(fn(args)))
        return
    common = ["--batch", str(args.batch), "--steps", str(args.steps), "--fdrd", os.path.abspath(args.fdrd) if args.fdrd else "",
              "--opts", *args.opts]
    tables: dict[str, list] = {"steps": [], "breakdown": [], "text": []}
    with tempfile.TemporaryDirectory() as work:
        def child(kind: str, arch: str, *extra: str) -> Any:
            return run_child([__file__, "--child", kind, "--arch", arch, "--workdir", work, *common, *extra])

        for arch in args.archs:
            for trainer in args.trainers:
                for mode in (["before"] if args.before else []) + ["after"]:
                    tables["steps"].append(child("trainer", arch, "--trainer", trainer, "--mode", mode))
            if args.breakdown:
                tables["breakdown"] += child("breakdown", arch)
            if args.text:
                tables["text"] += child("text", arch)
    for name, rows in tables.items():
        if rows:
            print(f"\n## {name}")
            report(rows, None)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(tables, f, indent=2)
    if args.md:
        write_markdown(tables, args.md, " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
