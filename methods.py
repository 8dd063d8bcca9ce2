"""The methods of the codebase, one row each (docs/extending.md, "A new trainer").

Everything that lists methods reads this table: the column order of ``parse_test_res.py
--table``, the comparison script ``scripts/reproduce_table.sh`` (through ``python -m methods``),
the equal tuning trials (``benchmarks/studies/tuning.py``), the speed benchmark and the synthetic
benchmark's method rows. It imports nothing of the project and no torch, so any layer may read it.

    python -m methods list                 # the table
    python -m methods table PRESET         # "TRAINER CONFIG train|eval" per line: the comparison table's runs
    python -m methods config TRAINER DATASET   # the scripts' default config name (synth for fdrd_synth*)
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field

SYNTH = "synth"  # the preset of the synthetic testbed: configs/trainers/<trainer>/synth.yaml, synth-small
PRESETS = (SYNTH, "vit_b32")  # vit_b32: ViT-B/32 (and ViT-B/16: same depth and input size)


@dataclass(frozen=True)
class Method:
    """One method: its registered trainer, how tables name it, its config per preset and its cost."""

    trainer: str  # the name ``--trainer`` takes (the registered trainer class)
    name: str  # the name reports and tables show
    node: str  # its config node, TRAINER.<node> (with PREC, and LOSS when it trains), made by its extend_cfg
    configs: dict[str, str] = field(default_factory=dict)  # preset -> config name under configs/trainers/<trainer>/
    minutes: float = 1.0  # one run at its synth config on one core (measured at the tuned configs); orders jobs
    trains: bool = True  # False: evaluated as it is (zero-shot), one deterministic run
    reference: bool = False  # a reference row of the benchmarks (zero-shot, full fine-tuning), not a compared method
    untuned_lr: str = ""  # OPTIM.LR of its synth config when the tuning round started ("": not tuned)
    in_table: bool = True  # a column of scripts/reproduce_table.sh
    speed: bool = True  # a row of benchmarks/micro/speed.py

    @property
    def tuned(self) -> bool:
        """Whether its synth config was chosen by the equal tuning trials (benchmarks/studies/tuning.py)."""
        return bool(self.untuned_lr)

    def config(self, preset: str) -> str:
        """The config file for ``preset`` (a ValueError naming the presets it has otherwise)."""
        if preset not in self.configs:
            raise ValueError(f"{self.trainer} has no config for preset {preset!r} (it has: {', '.join(self.configs)})")
        return f"configs/trainers/{self.trainer}/{self.configs[preset]}.yaml"


def _configs(vit_b32: str = "") -> dict[str, str]:
    return {SYNTH: SYNTH, **({"vit_b32": vit_b32} if vit_b32 else {})}


# In the published table's column order; minutes from the synthetic benchmark's first draw.
METHODS: tuple[Method, ...] = (
    Method("ZeroshotCLIP", "zero-shot CLIP", "ZSCLIP", _configs("vit_b32"), 0.7, trains=False, reference=True),
    Method("CoOp", "CoOp", "COOP", _configs("vit_b32_ep10_batch32_16ctx"), 1.4, untuned_lr="0.01"),
    Method("CLIP_Adapter", "CLIP-Adapter", "CLIP_ADAPTER", _configs("vit_b32_ep10_batch32"), 1.0, untuned_lr="0.01"),
    Method("CLIP_LoRA", "CLIP-LoRA", "CLIP_LORA", _configs("vit_b32_ep10_batch32"), 1.4, untuned_lr="0.0002"),
    Method("MaPLe", "MaPLe", "MAPLE", _configs("vit_b32_ep10_batch32_2ctx"), 2.0, untuned_lr="0.01"),
    Method("PromptSRC", "PromptSRC", "PROMPTSRC", _configs("vit_b32_ep10_batch32_4+4ctx"), 2.7, untuned_lr="0.01"),
    # FILIP, ALIP, FineCLIP: not tuned yet (no untuned_lr: outside the tuning and the synthetic benchmark until their
    # round); their minutes, which only order jobs, are estimates until then.
    Method("FILIP", "FILIP", "FILIP", _configs("vit_b32_ep10_batch32"), 4.0),
    Method("ALIP", "ALIP", "ALIP", _configs("vit_b32_ep10_batch32"), 4.0),
    Method("FineCLIP", "FineCLIP", "FINECLIP", _configs("vit_b32_ep10_batch32"), 4.0),
    Method("DCAR", "DCAR", "DCAR", _configs("vit_b32_ep10_batch32_2ctx"), 8.3, untuned_lr="0.01"),
    Method("FullFineTune", "full fine-tuning (upper bound)", "FINETUNE", _configs(), 3.7, reference=True,
           untuned_lr="0.0001", in_table=False, speed=False),
)


def method(trainer: str) -> Method:
    """The row of ``trainer`` (a ValueError listing the methods otherwise)."""
    for m in METHODS:
        if m.trainer == trainer:
            return m
    raise ValueError(f"{trainer!r} is not a method of the table (methods.py): {', '.join(trainers())}")


def trainers(**where: bool) -> tuple[str, ...]:
    """The trainers of the methods whose fields equal ``where`` (e.g. ``tuned=True``), in table order."""
    return tuple(m.trainer for m in METHODS if all(getattr(m, k) == v for k, v in where.items()))


def preset_of(dataset: str) -> str:
    """The preset a dataset config runs with by default: ``synth`` for FDRDSynth, else ``vit_b32``."""
    return SYNTH if dataset.startswith("fdrd_synth") else "vit_b32"


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m methods", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="every method with its configs and cost")
    table = sub.add_parser("table", help="'TRAINER CONFIG train|eval' lines: the comparison table's runs for a preset")
    table.add_argument("preset", choices=PRESETS)
    config = sub.add_parser("config", help="the config name the scripts use for TRAINER on DATASET when CFG is unset")
    config.add_argument("trainer")
    config.add_argument("dataset")
    a = p.parse_args(argv)
    if a.command == "config":
        preset = preset_of(a.dataset)
        try:
            name = method(a.trainer).configs[preset]
        except (ValueError, KeyError) as e:
            why = f"{a.trainer} has no {preset} config in methods.py" if isinstance(e, KeyError) else str(e)
            print(f"ERROR: set CFG to a config name under configs/trainers/{a.trainer}/ ({why})", file=sys.stderr)
            return 2
        print(name)
        return 0
    if a.command == "list":
        for m in METHODS:
            configs = ", ".join(f"{k}: {v}" for k, v in m.configs.items())
            print(f"{m.trainer:14s} {m.name:32s} TRAINER.{m.node:13s} {m.minutes:4.1f} min  {configs}")
        return 0
    missing = [m.trainer for m in METHODS if m.in_table and a.preset not in m.configs]
    if missing:
        print(f"ERROR: {', '.join(missing)} ha{'s' if len(missing) == 1 else 've'} no config for preset {a.preset}: add "
              "it to the method's row in methods.py")
        return 2
    for m in METHODS:
        if m.in_table:
            print(m.trainer, m.configs[a.preset], "train" if m.trains else "eval")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
