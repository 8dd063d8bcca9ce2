"""Running ``train.py`` for the FDRDSynth benchmarks (``synthetic_benchmark``, ``tuning``,
``val_size``, ``dcar_choices``, ``synthetic_selection``): one command line, the settings every run
shares, parallel worker processes that reuse finished runs, and reading their results back."""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time

from methods import method

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

DATASET_CONFIG = "configs/datasets/fdrd_synth.yaml"
VAL_IMAGES, QUICK_VAL_IMAGES = 2001, 6  # FDRDSynth val gallery per domain: the size docs/results/val_size.md chose


def already_finished(argv: list[str]) -> bool:
    """Whether ``train.py argv`` would only say "Finished" (its folder has ``results.json`` from
    this very configuration), decided with train.py's own checks in this process, so that a rerun
    starts no process for a finished run."""
    if "--eval-only" in argv:
        return False
    import run_folder
    from configuration import build_parser, cfg_from_args

    with contextlib.chdir(ROOT):
        cfg = cfg_from_args(build_parser().parse_args(argv))
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
    spec_keys = {"SEED": a.data_seed, "IMAGE_SIZE": resolution,
                 "VAL_IMAGES_PER_DOMAIN": QUICK_VAL_IMAGES if a.quick else VAL_IMAGES}
    if a.quick:
        spec_keys.update(NUM_DOMAINS=2, CLASSES_PER_DOMAIN=4, TRAIN_PER_CLASS=5, TEST_IMAGES_PER_DOMAIN=24)
        a.shots = 3
    common = ["MODEL.BACKBONE.NAME", a.backbone, "INPUT.SIZE", f"({resolution}, {resolution})", "DATASET.NUM_SHOTS",
              str(a.shots), *[x for k, v in spec_keys.items() for x in (f"DATASET.FDRD_SYNTH.{k}", str(v))],
              *getattr(a, "opts", [])]
    if a.quick:
        common += ["OPTIM.MAX_EPOCH", "1"]
    return spec_keys, common


def run_arguments(doc: str, seeds: list[int], runs: str, name: str, report: str | None = None) -> argparse.ArgumentParser:
    """The command line of a benchmark that trains on FDRDSynth: seeds, data seed, shots, workers,
    backbone, data and run folders, ``docs/<name>.md`` and ``docs/bench_<report or name>.json``, ``--quick``."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=seeds)
    p.add_argument("--data-seed", type=int, default=0, help="FDRDSynth generator seed (a fresh draw of the data)")
    p.add_argument("--shots", type=int, default=16)
    p.add_argument("--workers", type=int, default=2, help="train.py processes at once (one CPU thread each)")
    p.add_argument("--backbone", default="synth-small")
    p.add_argument("--data", default=os.path.join(ROOT, "data"))
    p.add_argument("--runs", default=os.path.join(ROOT, "output", runs))
    p.add_argument("--out", default=os.path.join(ROOT, "docs", "results", f"{name}.md"))
    p.add_argument("--json", default=os.path.join(ROOT, "docs", "results", f"bench_{report or name}.json"))
    p.add_argument("--quick", action="store_true", help="a tiny setting (what the tests exercise)")
    return p


def load(out: str) -> dict:
    with open(os.path.join(out, "results.json"), encoding="utf-8") as f:
        return json.load(f)


def synth_config(trainer: str) -> str:
    """``trainer``'s config for the synthetic testbed."""
    return os.path.join(ROOT, "configs", "trainers", trainer, "synth.yaml")


def config_values(trainer: str, keys: list[str], opts: list[str] = ()) -> dict[str, object]:
    """The values ``keys`` take in ``trainer``'s synth config with ``opts`` merged, as ``train.py``
    resolves them."""
    from configuration import build_cfg

    with contextlib.chdir(ROOT):
        cfg = build_cfg([DATASET_CONFIG, synth_config(trainer)], opts, {"TRAINER.NAME": trainer})
    values = {}
    for key in keys:
        node = cfg
        for part in key.split("."):
            node = node[part]
        values[key] = node
    return values


def loss_key(trainer: str) -> str:
    """The config key of ``trainer``'s L_con direction (``TRAINER.<its node>.LOSS``)."""
    return f"TRAINER.{method(trainer).node}.LOSS"


def worker_env(workers: int) -> dict[str, str]:
    """The environment of the ``train.py`` workers: one CPU thread each when several share the cores."""
    return dict(os.environ, OMP_NUM_THREADS="1") if workers > 1 else dict(os.environ)


def write_report(a: argparse.Namespace, report: dict, text: str) -> None:
    """``report`` as JSON to ``a.json`` and its Markdown ``text`` to ``a.out`` (folders made as
    needed); the Markdown is printed too."""
    for path, content in ((a.json, json.dumps(report, indent=1)), (a.out, text)):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(content + "\n")
    print(text)
