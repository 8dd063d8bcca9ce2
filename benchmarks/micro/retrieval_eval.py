"""Benchmark of the Retrieval evaluator's ranking on a large random gallery.

    python benchmarks/micro/retrieval_eval.py [--n 30000] [--dim 512] [--chunks 1024 4096] [--device cpu]

For each chunk size it ranks N images against N captions in both directions (random unit
features) in a fresh process and prints the wall time and the peak memory: host RSS on CPU,
``torch.cuda.max_memory_allocated`` on GPU. Memory grows with the chunk (tiles of at most
chunk x chunk scores), not with N^2. ``peak_extra_mib`` is the growth during ranking, after the
features exist; ``peak_rss_mib`` the whole process.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from benchmarks.micro.common import report, run_child  # noqa: E402


def run_once(n: int, dim: int, chunk: int, device: str) -> dict:
    import torch

    from evaluation.ranking import normalize, ranks, recall_metrics

    torch.manual_seed(0)
    img = normalize(torch.randn(n, dim, device=device))
    txt = normalize(img + 0.25 * torch.randn(n, dim, device=device))  # captions loosely near their images
    ptr = torch.arange(n + 1, device=device)
    idx = torch.arange(n, device=device)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    i2t = ranks(img, txt, ptr, idx, chunk=chunk)
    t2i = ranks(txt, img, ptr, idx, chunk=chunk)
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    peak = torch.cuda.max_memory_allocated() if device == "cuda" else peak_rss - base * 1024
    return {"n": n, "dim": dim, "chunk": chunk, "device": device, "seconds": round(seconds, 2),
            "peak_extra_mib": round(peak / 2**20, 1), "peak_rss_mib": round(peak_rss / 2**20, 1),
            "full_matrix_mib": round(n * n * 4 / 2**20, 1),
            "i2t_R@1": recall_metrics(i2t, (1,), "i2t")["i2t_R@1"], "t2i_R@1": recall_metrics(t2i, (1,), "t2i")["t2i_R@1"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=30000)
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--chunks", type=int, nargs="+", default=[256, 1024, 4096])
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", help="also write the rows to this file")
    p.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(run_once(args.n, args.dim, args.child, args.device)))
        return
    rows = [run_child([__file__, "--n", str(args.n), "--dim", str(args.dim), "--device", args.device, "--child", str(c)])
            for c in args.chunks]
    report(rows, args.json)


if __name__ == "__main__":
    main()
