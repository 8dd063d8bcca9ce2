"""Train or evaluate a trainer on a dataset (CoOp's command line).

    python train.py --root $DATA --trainer DCAR --dataset-config-file configs/datasets/fdrd.yaml \
        --config-file configs/trainers/DCAR/vit_b32_ep10_batch32_2ctx.yaml --output-dir output/x --seed 1 [KEY VALUE ...]

Multi-GPU: ``torchrun --nproc_per_node=N train.py ...`` (same arguments; the batch size is the
global batch). Config layering, later wins: engine defaults, keys added by trainer/dataset modules, dataset
config, trainer config, command-line flags, trailing ``KEY VALUE`` options.

A run folder belongs to one run (:mod:`run_folder`: its lock, identity check and clean-up).
"""
from __future__ import annotations

import argparse
import errno
import os
import sys
from typing import Any

try:
    import engine
except ImportError as _e:  # DCAR_ENGINE=dassl without an importable Dassl: one line, as for any bad input
    if os.environ.get("DCAR_ENGINE", "").strip().lower() != "dassl" or os.environ.get("DCAR_DEBUG"):
        raise
    print(f"ERROR: {_e}")
    sys.exit(2)
import torch

import run_folder
from configuration import build_parser, cfg_from_args
from engine import CheckpointMismatchError
from engine import distributed as dist
from engine.writes import DiskFullError, disk_full_in
from reporting.cli import BAD_INPUT, bad_input


def print_args(args: argparse.Namespace, cfg: Any) -> None:
    print("***************\n** Arguments **\n***************")
    for key in sorted(vars(args)):
        print(f"{key}: {getattr(args, key)}")
    print("************\n** Config **\n************")
    print(cfg)


def build_trainer(cfg: Any) -> Any:
    """The trainer; under ``torchrun`` rank 0 prepares the data (generation, few-shot caches)
    before the other ranks read it, and ranks > 0 then draw different augmentations."""
    if dist.is_distributed():
        if dist.is_main():
            engine.build_dataset(cfg)
        dist.barrier()
    trainer = engine.build_trainer(cfg)
    if dist.rank() > 0 and cfg.SEED >= 0:
        engine.set_random_seed(cfg.SEED + dist.rank())
    return trainer


def main(args: argparse.Namespace) -> None:
    cfg = cfg_from_args(args)
    try:
        engine.check_registered(engine.TRAINER_REGISTRY, cfg.TRAINER.NAME, "trainer")
    except ValueError as e:
        raise ValueError(f"{e}. Set it with --trainer NAME.") from None
    dist.setup(cfg.USE_CUDA)
    with run_folder.claimed(cfg, args.eval_only) as to_do:
        if to_do:
            execute(cfg, args)


def execute(cfg: Any, args: argparse.Namespace) -> None:
    """Set up, build the trainer and train or evaluate (on every process)."""
    print(f"Engine: {engine.ENGINE_DESCRIPTION}")
    if dist.is_distributed():
        print(f"Distributed: {dist.world_size()} processes; global batch {cfg.DATALOADER.TRAIN_X.BATCH_SIZE}")
    if cfg.SEED >= 0:
        print(f"Setting fixed seed: {cfg.SEED}")
        engine.set_random_seed(cfg.SEED)
    if torch.cuda.is_available() and cfg.USE_CUDA:
        torch.backends.cudnn.benchmark = True
    else:
        print(f"CPU threads: {torch.get_num_threads()} (set OMP_NUM_THREADS=1 when other jobs share these cores)")
    print_args(args, cfg)
    if dist.is_main():
        run_folder.write_run_info(cfg)
    trainer = build_trainer(cfg)
    if args.eval_only:
        if not args.model_dir and trainer.get_model_names():
            raise ValueError(f"--eval-only without --model-dir would evaluate {cfg.TRAINER.NAME}'s untrained "
                             f"parameters ({', '.join(trainer.get_model_names())}): give --model-dir RUN_FOLDER")
        try:
            trainer.load_model(args.model_dir, epoch=args.load_epoch)
        except CheckpointMismatchError as e:
            raise ValueError(f"{e}{run_folder.model_config_differences(cfg, args.model_dir)}") from None
        trainer.test()
        return
    if not args.no_train:
        trainer.train()


def os_error_message(e: OSError) -> str:
    """One line for a failed file operation, with the likely fix."""
    where = f" ({e.filename})" if e.filename else ""
    fixes = {errno.ENOSPC: "free disk space or choose another --output-dir",
             errno.EROFS: "the file system is read-only: choose another --output-dir",
             errno.EACCES: "no permission: choose a folder you can write, or fix its permissions"}
    return f"{e.strerror or e}{where}" + (f": {fixes[e.errno]}" if e.errno in fixes else "")


def run(argv: list[str]) -> None:
    """``main`` with bad input (data, config, weights, unwritable folders) reported as one clear
    message and exit status 2 instead of a traceback; ``DCAR_DEBUG=1`` shows the traceback."""
    try:
        main(build_parser(__doc__).parse_args(argv))
        dist.cleanup()
    except (ValueError, KeyError, OSError, RuntimeError) as e:
        full = disk_full_in(e)  # a full disk, also where a library wrapped it (torch's writer: RuntimeError)
        if os.environ.get("DCAR_DEBUG") or (isinstance(e, RuntimeError) and full is None):
            raise
        if isinstance(full, DiskFullError):
            message = full
        elif full is not None:
            message = os_error_message(full)
        elif isinstance(e, KeyError) and e.args:
            message = e.args[0]
        elif isinstance(e, OSError) and not isinstance(e, FileNotFoundError):
            message = os_error_message(e)
        else:
            message = e
        try:
            bad_input(message)
            sys.stdout.flush()
        except OSError:  # the log's disk is full too: the tee wrote the line to the console first
            pass
        raise SystemExit(BAD_INPUT) from None


if __name__ == "__main__":
    run(sys.argv[1:])
