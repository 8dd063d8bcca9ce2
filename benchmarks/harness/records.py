"""Run records: what the reports need of a finished run, small enough to commit (docs/results.md,
"Run records"). A record keeps a run's metrics, per-domain metrics, gallery sizes, what its
evaluation negatives are made of (by kind, synonym rate) and every query's rank (what the
bootstrap over test items resamples), the results-changing config keys that differ from the
defaults, and the run's wall time; it is named by the run's identity
(:func:`reporting.identity.run_key`), so any study finds the runs it shares with another by their
configuration, on any machine, without the run folders.

    python -m benchmarks.harness.records add RUN_DIR [RUN_DIR ...]     # write each finished run's record
    python -m benchmarks.harness.records check RUN_DIR [RUN_DIR ...]   # a rerun against its record

``check`` exits 0 when every run equals its record exactly, 1 when a figure differs (each named),
2 when a folder has no finished run or no record. A folder does not say which model an evaluation
(``--eval-only``) loaded, so evaluations are checked by the benchmarks' runner, which knows
(``benchmarks/harness/runner.py``, :func:`~benchmarks.harness.runner.resolve`).
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import zlib
from typing import Any

import numpy as np

from reporting.identity import flatten, result_keys, run_key

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RECORDS_DIR = os.path.join(ROOT, "benchmarks", "run_records")
FORMAT = 1
COMPARED = ("metrics", "per_domain", "sizes", "negatives", "item_ranks")  # what a rerun must reproduce exactly


def encode_ranks(ranks: list[int]) -> str:
    """0-based ranks as base64 of zlib-compressed little-endian uint32 (about a byte a query)."""
    return base64.b64encode(zlib.compress(np.asarray(ranks, dtype="<u4").tobytes(), 9)).decode("ascii")


def decode_ranks(text: str) -> list[int]:
    return np.frombuffer(zlib.decompress(base64.b64decode(text)), dtype="<u4").astype(int).tolist()


def run_seconds(run_dir: str) -> float:
    """A run's own wall time, from the last "Elapsed: H:MM:SS" of its log.txt (0 when absent)."""
    try:
        with open(os.path.join(run_dir, "log.txt"), encoding="utf-8") as f:
            stamps = [line.split()[-1] for line in f if line.startswith("Elapsed: ")]
    except FileNotFoundError:
        return 0.0
    if not stamps:
        return 0.0
    h, m, sec = (int(x) for x in stamps[-1].split(":"))
    return 3600.0 * h + 60.0 * m + sec


def record_of(results: dict[str, Any], defaults: dict[str, Any], seconds: float = 0.0,
              identity: str = "") -> dict[str, Any]:
    """The record of a run from what :func:`load` reads of it; ``defaults``: the flattened default
    config, against which only the differing results-changing keys are kept; ``identity``: default
    the config's :func:`run_key` (an evaluation's joins its model's)."""
    flat = results["config"]
    changed = {k: v for k, v in result_keys(flat).items() if defaults.get(k) != v}
    ranks = {dom: {way: encode_ranks(r) for way, r in by_way.items()} for dom, by_way in results["item_ranks"].items()}
    return {"format": FORMAT, "identity": identity or run_key(flat), "group": results["group"],
            "trainer": results["trainer"], "curves": results.get("curves"), "dataset": results["dataset"],
            "seed": results["seed"], "num_shots": results["num_shots"], "split": results["split"],
            "backbone_sha256": results["backbone"].get("sha256", ""),
            "seconds": seconds, "config": changed, "metrics": results["metrics"], "per_domain": results["per_domain"],
            "sizes": results["sizes"], "ks": results["ks"], "negatives": results.get("negatives", {}), "item_ranks": ranks}


def decoded(record: dict[str, Any]) -> dict[str, Any]:
    """A record with its ranks as lists, laid out as ``results.json`` lays them out."""
    ranks = {dom: {way: decode_ranks(r) for way, r in by_way.items()} for dom, by_way in record["item_ranks"].items()}
    return {**record, "item_ranks": ranks}


def record_path(identity: str, folder: str = RECORDS_DIR) -> str:
    return os.path.join(folder, f"{identity}.json")


def read_record(identity: str, folder: str = RECORDS_DIR) -> dict[str, Any] | None:
    """The decoded record of the run with ``identity`` (None without one)."""
    record = read_named(identity, folder)
    return None if record is None else decoded(record)


def write_record(record: dict[str, Any], folder: str = RECORDS_DIR) -> str:
    """Write a record, every mapping in the run's own order: the domains' order is the order their
    items are pooled in, which the bootstrap over test items resamples (sorted, it would draw other
    resamples and other intervals)."""
    return write_named(record["identity"], record, folder)


def read_named(name: str, folder: str = RECORDS_DIR) -> dict[str, Any] | None:
    """A record by its name (a run's identity, or for a study's measurement of the data, e.g.
    ``probe-...``, a name that says everything its figures depend on), as written. None without one."""
    path = record_path(name, folder)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def write_named(name: str, data: dict[str, Any], folder: str = RECORDS_DIR) -> str:
    """Write a record under its name, its keys in their order (a table's rows follow it); its path."""
    os.makedirs(folder, exist_ok=True)
    path = record_path(name, folder)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=0)
        f.write("\n")
    return path


def differences(results: dict[str, Any], record: dict[str, Any]) -> list[str]:
    """What a rerun's ``results.json`` content does not reproduce of its decoded record: each metric
    (overall and per domain), gallery size and domain's ranks that differs, named."""
    out = []
    for part in COMPARED:
        new, old = flatten(results[part]), flatten(record[part])
        for key in sorted(set(new) | set(old)):
            if new.get(key) != old.get(key):
                shown = ("ranks differ" if part == "item_ranks"
                         else f"recorded {old.get(key, '(absent)')}, rerun {new.get(key, '(absent)')}")
                out.append(f"{part}.{key}: {shown}")
    return out


def load(run_dir: str) -> dict[str, Any]:
    """A finished run's ``results.json`` content, with its per-epoch ``curves`` (None when it did not
    train); a ValueError naming the folder when it holds no finished run."""
    path = os.path.join(run_dir, "results.json")
    if not os.path.isfile(path):
        raise ValueError(f"{run_dir} has no results.json: it holds no finished run (train it first, or name a run folder)")
    with open(path, encoding="utf-8") as f:
        results = json.load(f)
    curves = os.path.join(run_dir, "curves.json")
    if not os.path.isfile(curves):
        return {**results, "curves": None}
    with open(curves, encoding="utf-8") as f:
        return {**results, "curves": json.load(f)}


def main(argv: list[str]) -> int:
    from plugins import default_cfg

    p = argparse.ArgumentParser(prog="python -m benchmarks.harness.records", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=("add", "check"))
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    p.add_argument("--records", default=RECORDS_DIR, help="the records folder (default: the committed one)")
    a = p.parse_args(argv)
    defaults, status = flatten(default_cfg()), 0
    for run_dir in a.run_dirs:
        try:
            results = load(run_dir)
        except ValueError as e:
            print(f"ERROR: {e}")
            return 2
        identity = run_key(results["config"])
        if a.command == "add":
            print(f"{run_dir}: record {write_record(record_of(results, defaults, run_seconds(run_dir)), a.records)}")
            continue
        record = read_record(identity, a.records)
        if record is None:
            print(f"ERROR: {run_dir}: no record {record_path(identity, a.records)} (no committed run has this "
                  "configuration; 'add' writes one)")
            return 2
        found = differences(results, record)
        print(f"{run_dir}: " + ("equal to its record" if not found else f"{len(found)} differences from its record:\n  "
                                + "\n  ".join(found)))
        status = max(status, 1 if found else 0)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
