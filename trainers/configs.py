"""The trainer configs shipped in ``configs/trainers/<TRAINER>/`` and the backbone each is written
for (its ``MODEL.BACKBONE.NAME``): an error about a backbone that does not fit the config (too
few layers for ``PROMPT_DEPTH``, another input size) names the config that fits (README, "Which
config for which backbone")."""
from __future__ import annotations

import os
from typing import Any

import yaml

CONFIG_ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "trainers")


def shipped_configs(trainer: str) -> dict[str, str]:
    """``configs/trainers/<trainer>/<name>.yaml`` -> the backbone it names (empty when it names none)."""
    folder = os.path.join(CONFIG_ROOT, trainer)
    out = {}
    for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
        if name.endswith(".yaml"):
            with open(os.path.join(folder, name), encoding="utf-8") as f:
                data = yaml.safe_load(f) or {}
            out[f"configs/trainers/{trainer}/{name}"] = str(data.get("MODEL", {}).get("BACKBONE", {}).get("NAME", ""))
    return out


def fit_hint(cfg: Any) -> str:
    """A sentence naming the shipped config written for the run's backbone, or every shipped
    config with its backbone when none is."""
    trainer, backbone = cfg.TRAINER.NAME, cfg.MODEL.BACKBONE.NAME
    configs = shipped_configs(trainer)
    fitting = [path for path, name in configs.items() if name == backbone]
    if fitting:
        return f"With MODEL.BACKBONE.NAME {backbone} use --config-file {' or '.join(fitting)}."
    listed = ", ".join(f"{path} ({name or 'no backbone named'})" for path, name in configs.items())
    return (f"No shipped {trainer} config is written for {backbone}; the shipped ones and their backbones: "
            f"{listed or 'none'}. Start from the nearest and set the keys named above.")
