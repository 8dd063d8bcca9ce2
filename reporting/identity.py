"""Run identity: which configuration keys change a run's results, and how two runs differ.

A run folder is identified by its resolved configuration, not by its name. ``train.py`` refuses
to resume or re-evaluate into a folder whose saved ``config.yaml`` differs in any key that
changes results, and ``parse_test_res.py`` averages only runs whose identities are equal
(apart from the seed and the domain selection).
"""
from __future__ import annotations

import hashlib
import json
import os
from typing import Any, Mapping

import yaml

# Keys that never change what a run computes: where things are read from or written to, how
# much is printed, how evaluation is batched (ranks are exact, whatever the batching).
NOT_RESULTS = frozenset({
    "OUTPUT_DIR", "RESUME", "VERBOSE", "TRAIN.PRINT_FREQ", "DATALOADER.NUM_WORKERS", "DATASET.ROOT",
    "DATASET.FDRD.CAPTION_DIR", "DATASET.FDRD.CACHE_DIR", "DATALOADER.TEST.BATCH_SIZE",
    "TEST.RETRIEVAL.CHUNK", "TEST.RETRIEVAL.TEXT_BATCH_SIZE",
    # where the weights were found: their identity is MODEL.BACKBONE.SHA256 (trainers/backbones)
    "MODEL.BACKBONE.CACHE_DIR", "MODEL.BACKBONE.DOWNLOAD", "MODEL.BACKBONE.SOURCE",
})
# Keys that differ between the runs one row or column of a table averages over.
VARIES_WITHIN_GROUP = frozenset({"SEED", "DATASET.FDRD.DOMAINS"})


def flatten(node: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"A.B.C": value}`` for a nested config (a yacs CfgNode or plain dicts); tuples become lists."""
    out: dict[str, Any] = {}
    for key, value in node.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, name + "."))
        else:
            out[name] = list(value) if isinstance(value, tuple) else value
    return out


def saved_config(run_dir: str) -> dict[str, Any] | None:
    """The flattened ``config.yaml`` that train.py writes into every run folder (None without one)."""
    path = os.path.join(run_dir, "config.yaml")
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return flatten(yaml.safe_load(f) or {})


def _foreign_nodes(flat: Mapping[str, Any]) -> tuple[str, ...]:
    """The config nodes (``TRAINER.<NODE>.``) of the table's other trainers (methods.py): a run of
    one trainer never reads another's node, so adding a trainer (and its keys to every config)
    changes no run's identity. None when the run's trainer has no row (its node is not known here)."""
    from methods import METHODS

    nodes = {m.trainer: m.node for m in METHODS}
    own = nodes.get(flat.get("TRAINER.NAME"))
    return () if own is None else tuple(f"TRAINER.{n}." for n in set(nodes.values()) - {own})


def result_keys(flat: Mapping[str, Any]) -> dict[str, Any]:
    """The keys of a flattened config that change results (the run's own trainer node, not the others')."""
    foreign = _foreign_nodes(flat)
    return {k: v for k, v in flat.items() if k not in NOT_RESULTS and not (foreign and k.startswith(foreign))}


ABSENT = "(absent)"


def differences(a: Mapping[str, Any], b: Mapping[str, Any], ignore: frozenset = frozenset(),
                labels: tuple[str, str] = ("saved", "now"), defaults: Mapping[str, Any] | None = None) -> list[str]:
    """``KEY: <label a> X, <label b> Y`` for every results-changing key that differs (absent keys
    included). With ``defaults``, a key absent from ``a`` counts as its default: ``a`` was saved
    before the key existed, and a new key's default keeps the behaviour from before it."""
    a, b = result_keys(a), result_keys(b)
    out = []
    for key in sorted(set(a) | set(b)):
        if key in ignore:
            continue
        va, vb = a.get(key, (defaults or {}).get(key, ABSENT)), b.get(key, ABSENT)
        if va != vb:
            show = lambda v: v if v is ABSENT else repr(v)  # noqa: E731
            out.append(f"{key}: {labels[0]} {show(va)}, {labels[1]} {show(vb)}")
    return out


def _digest(keys: Mapping[str, Any], length: int) -> str:
    return hashlib.sha256(json.dumps(keys, sort_keys=True, default=str).encode()).hexdigest()[:length]


def run_key(flat: Mapping[str, Any]) -> str:
    """A hash of every results-changing key, seed and domain selection included: two runs with the
    same key compute the same thing (a committed run record is found by it)."""
    return _digest(result_keys(flat), 16)


def group_key(flat: Mapping[str, Any]) -> str:
    """A short hash of the results-changing keys, seed and domain selection excluded: runs with
    the same key may be averaged together."""
    return _digest({k: v for k, v in result_keys(flat).items() if k not in VARIES_WITHIN_GROUP}, 10)
