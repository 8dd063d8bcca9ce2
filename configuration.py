"""The one way a run's config is built (docs/training.md, "Configs"), for ``train.py``,
``trained.py``, every benchmark and the tests alike:

1. the engine's defaults and every plugin's keys (:func:`plugins.default_cfg`);
2. each YAML file in order -- the dataset config, then the trainer config;
3. the values the command-line flags set (``--root``, ``--seed``, ``--trainer`` ...);
4. the trailing ``KEY VALUE`` options;
5. the backbone's settings (:func:`trainers.backbones.configure`): the weights' hash, activation
   and source, and -- with ``MODEL.BACKBONE.SET_PIXEL_NORM`` -- their own image normalisation.

A config built another way misses step 5 and normalises images with the engine's ImageNet
mean/std instead of the weights' own (``tests/test_configuration.py`` fails on any such place).
Every error names its source: the file, or the command line.
"""
from __future__ import annotations

import argparse
import os
from typing import Any, Callable, Mapping, Sequence

from plugins import default_cfg
from trainers import backbones


def build_parser(description: str = "") -> argparse.ArgumentParser:
    """``train.py``'s command line: CoOp's flags, then trailing ``KEY VALUE`` options."""
    p = argparse.ArgumentParser(prog="train.py", description=description,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
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


# train.py's flags and the config key each sets (when given)
FLAG_KEYS = {"root": "DATASET.ROOT", "output_dir": "OUTPUT_DIR", "resume": "RESUME", "seed": "SEED",
             "source_domains": "DATASET.SOURCE_DOMAINS", "target_domains": "DATASET.TARGET_DOMAINS",
             "transforms": "INPUT.TRANSFORMS", "trainer": "TRAINER.NAME", "backbone": "MODEL.BACKBONE.NAME",
             "head": "MODEL.HEAD.NAME"}


def flag_values(args: argparse.Namespace) -> dict[str, Any]:
    """The config keys the given flags set (a flag left out sets nothing; seed 0 is a seed)."""
    given = {flag: getattr(args, flag) for flag in FLAG_KEYS}
    return {FLAG_KEYS[f]: v for f, v in given.items() if (v is not None if f == "seed" else v)}


def merge_checked(merge: Callable[[], None], source: str) -> None:
    """Run a yacs merge; anything wrong in ``source`` -- YAML syntax, an unknown key (yacs: a bare
    assertion or KeyError), a wrongly typed value -- is one ValueError naming the source."""
    try:
        merge()
    except Exception as e:  # yacs and PyYAML raise many kinds for a bad file
        detail = " ".join(str(e).split())[:400] or type(e).__name__
        raise ValueError(f"Config error in {source}: {detail}. Check the YAML syntax and each key's spelling (flags such "
                         "as --output-dir go before the trailing KEY VALUE options)") from None


def set_values(cfg: Any, values: Mapping[str, Any]) -> Any:
    """Set each ``A.B.C`` key of ``values`` in ``cfg`` (as flags set them: no type conversion); returns ``cfg``."""
    for key, value in values.items():
        *parents, leaf = key.split(".")
        node = cfg
        for part in parents:
            node = node[part]
        node[leaf] = value
    return cfg


def build_cfg(files: Sequence[str] = (), opts: Sequence[str] = (), values: Mapping[str, Any] | None = None,
              freeze: bool = True, backbone: bool = True) -> Any:
    """The config of ``files`` (in order), ``values`` (key -> value, as flags set them) and the
    trailing ``opts``, with the backbone's settings applied (see the module docstring).
    ``backbone=False`` only checks keys and types without locating the weights (the README test
    checks commands whose weights this machine does not have); no run starts from such a config."""
    cfg = default_cfg()
    for path in files:
        if not os.path.isfile(path):
            raise ValueError(f"Config file not found: {path}")
        merge_checked(lambda path=path: cfg.merge_from_file(path), path)
    set_values(cfg, values or {})
    if opts:
        if len(opts) % 2:
            raise ValueError(f"Trailing options must be KEY VALUE pairs, got an odd list: {list(opts)}")
        merge_checked(lambda: cfg.merge_from_list(list(opts)), "the command line")
    if backbone:
        backbones.configure(cfg)
    if freeze:
        cfg.freeze()
    return cfg


def cfg_from_args(args: argparse.Namespace) -> Any:
    """The frozen config of a parsed ``train.py`` command line."""
    files = [f for f in (args.dataset_config_file, args.config_file) if f]
    return build_cfg(files, args.opts or (), flag_values(args))
