"""Train or evaluate a trainer on a dataset (CoOp's command line; DASSL_API.md §1).

    python train.py --root $DATA --trainer DCAR --dataset-config-file configs/datasets/fdrd.yaml \
        --config-file configs/trainers/DCAR/vit_b32.yaml --output-dir output/x --seed 1 [KEY VALUE ...]

Multi-GPU: ``torchrun --nproc_per_node=N train.py ...`` (same arguments; the batch size is the
global batch). Config layering, later wins: engine defaults, keys added by trainer/dataset modules, dataset
config, trainer config, command-line flags, trailing ``KEY VALUE`` options.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import torch

import engine
from engine import distributed as dist
from engine.plugins import default_cfg


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", type=str, default="", help="path to dataset root")
    p.add_argument("--output-dir", type=str, default="", help="output directory")
    p.add_argument("--resume", type=str, default="", help="checkpoint directory to resume from")
    p.add_argument("--seed", type=int, default=None, help="fixed seed (0 included); unset = not seeded")
    p.add_argument("--source-domains", type=str, nargs="+", help="source domains for DA/DG")
    p.add_argument("--target-domains", type=str, nargs="+", help="target domains for DA/DG")
    p.add_argument("--transforms", type=str, nargs="+", help="data augmentation methods")
    p.add_argument("--config-file", type=str, default="", help="path to trainer config file")
    p.add_argument("--dataset-config-file", type=str, default="", help="path to dataset config file")
    p.add_argument("--trainer", type=str, default="", help="name of trainer")
    p.add_argument("--backbone", type=str, default="", help="name of CNN backbone / CLIP model or checkpoint")
    p.add_argument("--head", type=str, default="", help="name of head")
    p.add_argument("--eval-only", action="store_true", help="evaluation only")
    p.add_argument("--model-dir", type=str, default="", help="load model from this directory for eval-only mode")
    p.add_argument("--load-epoch", type=int, help="load model weights at this epoch for evaluation")
    p.add_argument("--no-train", action="store_true", help="do not call trainer.train()")
    p.add_argument("opts", default=None, nargs=argparse.REMAINDER, help="modify config options using the command-line")
    return p


def reset_cfg(cfg: Any, args: argparse.Namespace) -> None:
    """Copy the command-line flags that were given into the config."""
    if args.root:
        cfg.DATASET.ROOT = args.root
    if args.output_dir:
        cfg.OUTPUT_DIR = args.output_dir
    if args.resume:
        cfg.RESUME = args.resume
    if args.seed is not None:
        cfg.SEED = args.seed
    if args.source_domains:
        cfg.DATASET.SOURCE_DOMAINS = args.source_domains
    if args.target_domains:
        cfg.DATASET.TARGET_DOMAINS = args.target_domains
    if args.transforms:
        cfg.INPUT.TRANSFORMS = args.transforms
    if args.trainer:
        cfg.TRAINER.NAME = args.trainer
    if args.backbone:
        cfg.MODEL.BACKBONE.NAME = args.backbone
    if args.head:
        cfg.MODEL.HEAD.NAME = args.head


def setup_cfg(args: argparse.Namespace) -> Any:
    cfg = default_cfg()
    for path in (args.dataset_config_file, args.config_file):
        if path:
            if not os.path.isfile(path):
                raise SystemExit(f"Config file not found: {path}")
            merge_checked(lambda: cfg.merge_from_file(path), path)
    reset_cfg(cfg, args)
    if args.opts:
        if len(args.opts) % 2:
            raise SystemExit(f"Trailing options must be KEY VALUE pairs, got an odd list: {args.opts}")
        merge_checked(lambda: cfg.merge_from_list(args.opts), "the command line")
    cfg.freeze()
    return cfg


def merge_checked(merge: Any, source: str) -> None:
    """yacs reports an unknown key or a wrongly typed value by a bare assertion; name the source."""
    try:
        merge()
    except AssertionError as e:
        raise SystemExit(f"Config error in {source}: {e}. Check the key's spelling (flags such as --output-dir "
                         "go before the trailing KEY VALUE options)") from None


def print_args(args: argparse.Namespace, cfg: Any) -> None:
    print("***************\n** Arguments **\n***************")
    for key in sorted(vars(args)):
        print(f"{key}: {getattr(args, key)}")
    print("************\n** Config **\n************")
    print(cfg)


def write_run_info(cfg: Any) -> None:
    """Save the resolved config and the environment report next to the log."""
    os.makedirs(cfg.OUTPUT_DIR, exist_ok=True)
    with open(os.path.join(cfg.OUTPUT_DIR, "config.yaml"), "w", encoding="utf-8") as f:
        f.write(cfg.dump())
    env = engine.collect_env_info()
    with open(os.path.join(cfg.OUTPUT_DIR, "env.txt"), "w", encoding="utf-8") as f:
        f.write(f"engine: {engine.ENGINE_DESCRIPTION}\n{env}\n")
    print("Collecting env info ...\n** System info **\n" + env + "\n")


def quiet_follower() -> None:
    """Ranks other than 0 print nothing and draw no progress bars (errors still reach stderr)."""
    os.environ["TQDM_DISABLE"] = "1"
    sys.stdout = open(os.devnull, "w", encoding="utf-8")


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
    cfg = setup_cfg(args)
    try:
        engine.check_registered(engine.TRAINER_REGISTRY, cfg.TRAINER.NAME, "trainer")
    except ValueError as e:
        raise SystemExit(f"{e}\nSet it with --trainer NAME.") from None
    dist.setup(cfg.USE_CUDA)
    if dist.is_main():
        engine.setup_logger(cfg.OUTPUT_DIR)
    else:
        quiet_follower()
    print(f"Engine: {engine.ENGINE_DESCRIPTION}")
    if dist.is_distributed():
        print(f"Distributed: {dist.world_size()} processes; global batch {cfg.DATALOADER.TRAIN_X.BATCH_SIZE}")
    if cfg.SEED >= 0:
        print(f"Setting fixed seed: {cfg.SEED}")
        engine.set_random_seed(cfg.SEED)
    if torch.cuda.is_available() and cfg.USE_CUDA:
        torch.backends.cudnn.benchmark = True
    print_args(args, cfg)
    if dist.is_main():
        write_run_info(cfg)
    trainer = build_trainer(cfg)
    if args.eval_only:
        trainer.load_model(args.model_dir, epoch=args.load_epoch)
        trainer.test()
        return
    if not args.no_train:
        trainer.train()


def run(argv: list[str]) -> None:
    """``main`` with bad input (data, config, weights) reported as one clear message and exit
    status 2 instead of a traceback; ``DCAR_DEBUG=1`` shows the traceback."""
    try:
        main(build_parser().parse_args(argv))
        dist.cleanup()
    except (ValueError, FileNotFoundError, KeyError) as e:
        if os.environ.get("DCAR_DEBUG"):
            raise
        message = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"ERROR: {message}")
        sys.stdout.flush()
        raise SystemExit(2) from None


if __name__ == "__main__":
    run(sys.argv[1:])
