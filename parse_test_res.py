"""Aggregate test results over seeds, and build the comparison table.

    python parse_test_res.py output/fdrd_synth/DCAR/vit_b32_16shots        # mean +- std over seed*/
    python parse_test_res.py DIR --ci95                                    # 95% confidence interval
    python parse_test_res.py --table output                                # published layout, all runs

A run's final results come from its ``results.json`` (written by the evaluator) or, failing
that, from the ``* name: value%`` lines of the last test evaluation in its ``log.txt``. Seeds that
are missing or unfinished are reported, never silently averaged away.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import os
import re
import sys
from collections import defaultdict

from tabulate import tabulate

from evaluation.metric_names import format_metric

METRIC_RE = re.compile(r"^\* (?P<name>[\w@./+-]+): (?P<value>[-+0-9.eE]+)%?$")
EVAL_MARK = "Evaluate on the *test* set"
METHOD_ORDER = ("ZeroshotCLIP", "CoOp", "CLIP_Adapter", "MaPLe", "DCAR")
DOMAIN_ORDER = ("Caltech101", "OxfordPets", "StanfordCars", "Flowers102", "Food101", "FGVCAircraft", "SUN397",
                "DTD", "UCF101")


def read_run(run_dir: str) -> dict[str, float] | None:
    """Final metrics of one run, or None when it has none (unfinished or crashed)."""
    res = os.path.join(run_dir, "results.json")
    if os.path.isfile(res):
        with open(res, encoding="utf-8") as f:
            return {k: float(v) for k, v in json.load(f)["metrics"].items()}
    log = os.path.join(run_dir, "log.txt")
    if not os.path.isfile(log):
        return None
    metrics: dict[str, float] | None = None
    with open(log, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.strip()
            if line == EVAL_MARK:
                metrics = {}
            elif metrics is not None and (m := METRIC_RE.match(line)):
                metrics[m.group("name")] = float(m.group("value"))
    return metrics or None


def summarize(values: list[float], ci95: bool) -> tuple[float, float]:
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))  # population std, as CoOp
    return mean, (1.96 * std / math.sqrt(len(values)) if ci95 else std)


def parse_directory(directory: str, seeds: list[int], ci95: bool) -> tuple[dict, list[str], dict]:
    """(metric -> (mean, spread), warnings, seed dir -> metrics)."""
    found = sorted(d for d in os.listdir(directory) if re.fullmatch(r"seed\d+", d)) if os.path.isdir(directory) else []
    warnings = [f"seed{s} is missing (no {directory}/seed{s})" for s in seeds if f"seed{s}" not in found]
    runs = {}
    for d in found:
        metrics = read_run(os.path.join(directory, d))
        if metrics is None:
            warnings.append(f"{d} is unfinished (no results.json and no final test results in its log.txt)")
        else:
            runs[d] = metrics
    names: list[str] = []
    for metrics in runs.values():
        names += [k for k in metrics if k not in names]
    names.sort(key=lambda k: "/" in k)  # averaged metrics first, then per domain (stable)
    summary = {}
    for name in names:
        values = [m[name] for m in runs.values() if name in m]
        if len(values) < len(runs):
            warnings.append(f"{name} is missing from {len(runs) - len(values)} run(s)")
        summary[name] = summarize(values, ci95)
    return summary, warnings, runs


def print_directory(directory: str, seeds: list[int], ci95: bool) -> int:
    print(f"Parsing files in {directory}")
    summary, warnings, runs = parse_directory(directory, seeds, ci95)
    for d, metrics in runs.items():
        main = [(k, v) for k, v in metrics.items() if "/" not in k] or list(metrics.items())
        shown = ", ".join(f"{k}: {v:.2f}" for k, v in main[:4])
        print(f"file: {os.path.join(directory, d)}. {shown}")
    for w in warnings:
        print(f"WARNING: {w}")
    if not runs:
        print(f"Nothing found in {directory}")
        return 1
    print("===")
    print(f"Summary of directory: {directory} ({len(runs)} run(s): {', '.join(runs)})")
    for name, (mean, sd) in summary.items():
        print(format_metric(name, mean, sd, "ci95" if ci95 else "std"))
    print("===")
    return 0


def collect(root: str) -> dict[str, dict[str, list[dict[str, float]]]]:
    """method -> domain -> per-seed metric dicts, from every results.json under ``root``."""
    table: dict[str, dict[str, list[dict[str, float]]]] = defaultdict(lambda: defaultdict(list))
    for dirpath, _, files in os.walk(root):
        if "results.json" not in files:
            continue
        with open(os.path.join(dirpath, "results.json"), encoding="utf-8") as f:
            res = json.load(f)
        method = res.get("method") or res.get("trainer", "?")
        for domain, metrics in res.get("per_domain", {}).items():
            table[method][domain].append(metrics)
    return table


def _order(names, preferred) -> list[str]:
    return [n for n in preferred if n in names] + sorted(n for n in names if n not in preferred)


def build_table(root: str, ks: list[int]) -> tuple[list[str], list[list]]:
    data = collect(root)
    methods = _order(data, METHOD_ORDER)
    domains = _order({d for m in data.values() for d in m}, DOMAIN_ORDER)

    def value(method: str, domain: str, key: str) -> float | None:
        runs = data[method].get(domain, [])
        vals = [r[key] for r in runs if key in r]
        return sum(vals) / len(vals) if vals else None

    headers = ["domain", "K"] + [f"i2t {m}" for m in methods] + [f"t2i {m}" for m in methods]
    rows = []
    for domain in domains:
        for k in ks:
            rows.append([domain, k] + [value(m, domain, f"{d}_R@{k}") for d in ("i2t", "t2i") for m in methods])
    for k in ks:  # unweighted mean over domains, only for methods evaluated on every domain
        avg = []
        for d in ("i2t", "t2i"):
            for m in methods:
                vals = [value(m, dom, f"{d}_R@{k}") for dom in domains]
                avg.append(sum(vals) / len(vals) if all(v is not None for v in vals) else None)
        rows.append(["AVG", k] + avg)
    return headers, rows


def write_table(root: str, ks: list[int], out: str) -> int:
    headers, rows = build_table(root, ks)
    if len(headers) == 2:
        print(f"No results.json found under {root}")
        return 1
    fmt = [[f"{v:.2f}" if isinstance(v, float) else ("-" if v is None else v) for v in row] for row in rows]
    md = tabulate(fmt, headers=headers, tablefmt="github", disable_numparse=True)
    print(md)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "table.md"), "w", encoding="utf-8") as f:
        f.write(md + "\n")
    with open(os.path.join(out, "table.csv"), "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([headers] + fmt)
    print(f"Written {os.path.join(out, 'table.md')} and table.csv")
    return 0


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("directory", nargs="?", help="folder holding seed*/ runs")
    p.add_argument("--ci95", action="store_true", help="report 1.96*std/sqrt(n) instead of std")
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3], help="seeds expected (default 1 2 3)")
    p.add_argument("--table", metavar="ROOT", help="build the comparison table from every run under ROOT")
    p.add_argument("--ks", type=int, nargs="+", default=[1, 5, 10], help="recall cut-offs in the table")
    p.add_argument("--out", help="where table.md/table.csv go (default: ROOT)")
    args = p.parse_args(argv)
    if args.table:
        return write_table(args.table, args.ks, args.out or args.table)
    if not args.directory:
        p.error("give a directory or --table ROOT")
    return print_directory(args.directory, args.seeds, args.ci95)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
