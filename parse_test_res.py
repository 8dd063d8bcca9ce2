"""Aggregate test results over seeds, and build the comparison table.

    python parse_test_res.py output/fdrd_synth/DCAR/synth_16shots   # mean +- std over seed*/
    python parse_test_res.py DIR --ci95                                            # 95% t confidence interval
    python parse_test_res.py --table output                                        # published layout, all runs

A run's final results come from its ``results.json`` (written by the trainer) or, when that is
absent or damaged, from the ``* name: value`` lines of the final test evaluation in its
``log.txt`` -- only a complete one, which ends with the "Results written to" line. Seeds that are
missing, unfinished or unreadable are reported by name and counted, never silently averaged away,
and one bad run never stops the others.

Only runs of the same identity are averaged: same trainer, dataset, shots, evaluation mode
(trained here, or evaluated from another run's model) and the same results-changing config keys
apart from the seed and the domain selection (``group`` in ``results.json``). Runs of different
settings found together are listed as separate groups with the keys that differ.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import re
import sys
from collections import defaultdict
from dataclasses import dataclass, field

from tabulate import tabulate

from methods import trainers
from reporting.cli import bad_input
from reporting.identity import VARIES_WITHIN_GROUP, differences, group_key, result_keys, saved_config
from reporting.metric_names import format_metric
from reporting.stats import mean_ci, mean_std

METRIC_RE = re.compile(r"^\* (?P<name>[\w@./+-]+): (?P<value>[-+0-9.eE]+)%?$")
EVAL_MARK = "Evaluate on the *test* set"
DONE_MARK = "Results written to"  # the final test's last line, printed once results.json is written
METHOD_ORDER = trainers()  # the published column order: methods.py
DOMAIN_ORDER = ("Caltech101", "OxfordPets", "StanfordCars", "Flowers102", "Food101", "FGVCAircraft", "SUN397",
                "DTD", "UCF101")


@dataclass
class Run:
    """One finished run: its metrics and what identifies its settings."""

    path: str
    metrics: dict[str, float]
    per_domain: dict[str, dict[str, float]] = field(default_factory=dict)
    trainer: str = "?"
    identity: tuple = ()
    config: dict | None = None
    seed: int | None = None

    def label(self) -> str:
        trainer, dataset, shots, evaluated, group = self.identity
        mode = f", evaluated from {evaluated}" if evaluated else ""
        return f"{trainer} on {dataset}, {shots} shots{mode}, config {group}"


def _log_metrics(run_dir: str) -> dict[str, float] | None:
    """The metrics of the last *complete* test evaluation in ``log.txt`` (its block ended by the
    "Results written to" line), or None: a test cut off by a kill is no result."""
    log = os.path.join(run_dir, "log.txt")
    if not os.path.isfile(log):
        return None
    found, block = None, None
    with open(log, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.strip()
            if line == EVAL_MARK:
                block = {}
            elif block is not None and (m := METRIC_RE.match(line)):
                block[m.group("name")] = float(m.group("value"))
            elif block is not None and line.startswith(DONE_MARK):
                found, block = block or None, None
    return found


class BadRecord(ValueError):
    """A ``results.json`` that cannot be used: damaged, of another layout, or with a non-number metric."""


def _results_json(path: str) -> dict:
    """``results.json`` checked for what the summaries read: a ``metrics`` object of numbers."""
    try:
        with open(path, encoding="utf-8") as f:
            r = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BadRecord(f"{path} cannot be read ({type(e).__name__}: {e})") from None
    if not isinstance(r, dict):
        raise BadRecord(f"{path} holds a JSON {type(r).__name__}, not the object train.py writes")
    if not isinstance(r.get("metrics"), dict):
        raise BadRecord(f'{path} has no "metrics" object (an older or foreign layout)')
    per_domain = r.get("per_domain") or {}
    if not isinstance(per_domain, dict):
        raise BadRecord(f"{path}: per_domain is not an object")
    parts = {"metrics": r["metrics"], **{f"per_domain.{d}": m for d, m in per_domain.items()}}
    for where, metrics in parts.items():
        if not isinstance(metrics, dict):
            raise BadRecord(f"{path}: {where} is not an object")
        bad = [k for k, v in metrics.items() if isinstance(v, bool) or not isinstance(v, (int, float))]
        if bad:
            raise BadRecord(f"{path}: {where} {bad[0]} is not a number")
    return r


def read_record(run_dir: str) -> Run | None:
    """The run in ``run_dir``, or None when it has no final results (unfinished or crashed).
    A damaged ``results.json`` is a :class:`BadRecord`, unless the log holds the complete final test.
    Its identity comes from ``results.json``, else from the folder's ``config.yaml``."""
    res = os.path.join(run_dir, "results.json")
    metrics, per_domain, r = None, {}, {}
    if os.path.isfile(res):
        try:
            r = _results_json(res)
            metrics, per_domain = {k: float(v) for k, v in r["metrics"].items()}, r.get("per_domain") or {}
        except BadRecord as e:
            metrics = _log_metrics(run_dir)
            if metrics is None:
                raise BadRecord(f"{e}; its log.txt holds no complete final test either") from None
            print(f"WARNING: {e}: its final results are read from log.txt")
    else:
        metrics = _log_metrics(run_dir)
    if metrics is None:
        return None
    config = r.get("config") or saved_config(run_dir)
    if config is None:
        identity = (r.get("method") or r.get("trainer", "?"), r.get("dataset", "?"), r.get("num_shots", "?"), "",
                    "unknown (no config recorded)")
        return Run(run_dir, metrics, per_domain, identity[0], identity, None, r.get("seed"))
    evaluated = ""
    if r.get("eval_only") and r.get("model_dir"):  # the experiment the models come from (any seed)
        evaluated = re.sub(r"seed\d+$", "seed*", os.path.normpath(r["model_dir"]))
    trainer = config.get("TRAINER.NAME", "?")
    shots = r.get("num_shots", config.get("DATASET.NUM_SHOTS", "?"))  # an evaluated model's: its training shots
    identity = (trainer, config.get("DATASET.NAME", "?"), shots, evaluated, group_key(config))
    return Run(run_dir, metrics, per_domain, trainer, identity, config, config.get("SEED"))


def read_or_skip(run_dir: str, name: str, skipped: list[str]) -> Run | None:
    """:func:`read_record`, with an unfinished or damaged run named in ``skipped`` instead."""
    try:
        run = read_record(run_dir)
    except BadRecord as e:
        skipped.append(f"{name} is skipped: {e}")
        return None
    if run is None:
        skipped.append(f"{name} is unfinished (no results.json and no complete final test in its log.txt)")
    return run


def group_runs(runs: list[Run]) -> dict[tuple, list[Run]]:
    groups: dict[tuple, list[Run]] = defaultdict(list)
    for run in runs:
        groups[run.identity].append(run)
    return dict(groups)


def how_groups_differ(groups: dict[tuple, list[Run]]) -> dict[tuple, str]:
    """For each group, the settings that set it apart from the first group ("reference")."""
    first = next(iter(groups.values()))[0]
    out = {}
    for ident, members in groups.items():
        run = members[0]
        if run is first:
            out[ident] = "reference"
            continue
        parts = []
        if run.identity[3] != first.identity[3]:
            parts.append(f"evaluated from {run.identity[3]}" if run.identity[3] else "trained, not re-evaluated")
        if run.config is not None and first.config is not None:
            parts += differences(first.config, run.config, VARIES_WITHIN_GROUP, ("reference", "here"))
        else:
            parts += [f"{name} {a!r} vs {b!r}" for name, a, b in zip(("trainer", "dataset", "shots"), first.identity,
                                                                     ident) if a != b]
        out[ident] = "; ".join(parts[:6]) + (" ..." if len(parts) > 6 else "") or "unknown (no config recorded)"
    return out


def summarize(values: list[float], ci95: bool) -> tuple[float, float | None]:
    """(mean, spread): population std (as CoOp), or the half-width of the 95% t interval; a single
    value has no spread (None), not a spread of 0."""
    if len(values) < 2:
        return values[0], None
    return mean_ci(values) if ci95 else mean_std(values)


def summarize_runs(runs: list[Run], ci95: bool) -> tuple[dict[str, tuple[float, float | None]], list[str]]:
    names: list[str] = []
    for run in runs:
        names += [k for k in run.metrics if k not in names]
    names.sort(key=lambda k: "/" in k)  # averaged metrics first, then per domain (stable)
    summary, warnings = {}, []
    for name in names:
        values = [r.metrics[name] for r in runs if name in r.metrics]
        if len(values) < len(runs):
            warnings.append(f"{name} is missing from {len(runs) - len(values)} run(s)")
        summary[name] = summarize(values, ci95)
    return summary, warnings


def parse_groups(directory: str, seeds: list[int]) -> tuple[dict[tuple, list[Run]], list[str]]:
    """The finished seed*/ runs of ``directory`` by identity, and warnings for missing/unfinished seeds."""
    found = sorted((d for d in os.listdir(directory) if re.fullmatch(r"seed\d+", d)),
                   key=lambda d: int(d[4:])) if os.path.isdir(directory) else []
    warnings = [f"seed{s} is missing (no {directory}/seed{s})" for s in seeds if f"seed{s}" not in found]
    runs = [read_or_skip(os.path.join(directory, d), d, warnings) for d in found]
    return group_runs([r for r in runs if r is not None]), warnings


def print_directory(directory: str, seeds: list[int], ci95: bool) -> int:
    if not os.path.isdir(directory):
        return bad_input(f"{directory} does not exist: give the experiment folder that main.sh printed")
    print(f"Parsing files in {directory}")
    groups, warnings = parse_groups(directory, seeds)
    for run in (r for g in groups.values() for r in g):
        main = [(k, v) for k, v in run.metrics.items() if "/" not in k] or list(run.metrics.items())
        print(f"file: {run.path}. " + ", ".join(f"{k}: {v:.2f}" for k, v in main[:4]))
    for w in warnings:
        print(f"WARNING: {w}")
    if not groups:
        return bad_input(f"no finished run in {directory}: expected seed*/ folders holding results.json (or a log.txt "
                         "with final test results); give the experiment folder that main.sh printed")
    if len(groups) > 1:
        print(f"WARNING: {directory} holds runs of {len(groups)} different settings; each is summarised on its own")
    differ = how_groups_differ(groups)
    for ident, runs in groups.items():
        summary, more = summarize_runs(runs, ci95)
        for w in more:
            print(f"WARNING: {w}")
        print("===")
        names = ", ".join(os.path.basename(r.path) for r in runs)
        print(f"Summary of directory: {directory} ({len(runs)} run(s): {names})")
        if len(groups) > 1:
            print(f"Settings: {runs[0].label()} ({differ[ident]})")
        for name, (mean, spread) in summary.items():
            alone = " (n = 1)" if spread is None else ""
            print(format_metric(name, mean, spread, "95% t interval" if ci95 else "std") + alone)
    print("===")
    return 0


def collect(root: str) -> tuple[dict[tuple, list[Run]], list[str]]:
    """Every finished run under ``root`` (any depth, a folder holding ``results.json``), grouped by
    identity, and one line per run skipped as unreadable."""
    runs, skipped = [], []
    for dirpath, _, files in sorted(os.walk(root)):
        if "results.json" in files:
            runs.append(read_or_skip(dirpath, os.path.relpath(dirpath, root), skipped))
    return group_runs([r for r in runs if r is not None]), skipped


def column_names(groups: dict[tuple, list[Run]]) -> dict[tuple, str]:
    """The trainer's name when it has one group; else the name and what sets the group apart from
    the trainer's other groups: "DCAR, 16 shots", "DCAR, 16 shots, re-evaluated", "DCAR, CATE.LAMBDA 0.5"
    (a number is added only where that still leaves two columns alike)."""
    by_trainer: dict[str, list[tuple]] = defaultdict(list)
    for ident in groups:
        by_trainer[ident[0]].append(ident)
    names = {}
    for trainer, idents in by_trainer.items():
        if len(idents) == 1:
            names[idents[0]] = trainer
            continue
        configs = [result_keys(groups[i][0].config or {}) for i in idents]
        varying = sorted(k for k in set().union(*configs) if k not in VARIES_WITHIN_GROUP and k != "DATASET.NUM_SHOTS"
                         and len({json.dumps(c.get(k), default=str) for c in configs}) > 1)
        for ident, config in zip(idents, configs):
            _, dataset, shots, evaluated, _ = ident
            parts = [dataset] if len({i[1] for i in idents}) > 1 else []
            parts += [_shots(shots)] if len({i[2] for i in idents}) > 1 else []
            parts += ["re-evaluated"] if evaluated else []
            short = [f"{k.removeprefix(f'TRAINER.{trainer.upper()}.')} {config.get(k, '(absent)')}" for k in varying]
            parts += short[:2] + (["..."] if len(short) > 2 else [])
            names[ident] = ", ".join([trainer] + parts)
        repeated = [n for n in names.values() if list(names.values()).count(n) > 1]
        for i, ident in enumerate(idents, 1):
            if names[ident] in repeated:
                names[ident] += f" [{i}]"
    return names


def _shots(shots: object) -> str:
    return "all images" if shots in (-1, 0) else f"{shots} shots"


def _order(names, preferred) -> list[str]:
    return [n for n in preferred if n in names] + sorted(n for n in names if n not in preferred)


def ordered_groups(groups: dict[tuple, list[Run]]) -> tuple[list[tuple], dict[tuple, str]]:
    """The groups in the published column order, and their column names."""
    names = column_names(groups)
    order = {m: i for i, m in enumerate(METHOD_ORDER)}
    return sorted(groups, key=lambda g: (order.get(g[0], len(order)), g[0], names[g])), names


def fine_grained_table(groups: dict[tuple, list[Run]]) -> tuple[list[str], list[list]]:
    """Negative discrimination and twin accuracy (the runs' averages over domains), one column per group."""
    idents, names = ordered_groups(groups)
    keys = sorted({k for g in groups.values() for r in g for k in r.metrics
                   if "/" not in k and k.startswith(("negdisc_", "twin_"))}, key=lambda k: (not k.startswith("negdisc"), k))
    rows = []
    for key in keys:
        row = [key]
        for g in idents:
            vals = [r.metrics[key] for r in groups[g] if key in r.metrics]
            row.append(sum(vals) / len(vals) if vals else None)
        rows.append(row)
    return ["measure (%)"] + [names[g] for g in idents], rows


def build_table(groups: dict[tuple, list[Run]], root: str, ks: list[int]) -> tuple[list[str], list[list], list[str]]:
    """(headers, rows, legend): one column per group of runs; the legend lists each column's runs."""
    idents, names = ordered_groups(groups)
    domains = _order({d for g in groups.values() for r in g for d in r.per_domain}, DOMAIN_ORDER)

    def value(ident: tuple, domain: str, key: str) -> float | None:
        vals = [r.per_domain[domain][key] for r in groups[ident] if key in r.per_domain.get(domain, {})]
        return sum(vals) / len(vals) if vals else None

    headers = ["domain", "K"] + [f"{d} {names[g]}" for d in ("i2t", "t2i") for g in idents]
    rows = []
    for domain in domains:
        for k in ks:
            rows.append([domain, k] + [value(g, domain, f"{d}_R@{k}") for d in ("i2t", "t2i") for g in idents])
    for k in ks:  # unweighted mean over domains, only for columns evaluated on every domain
        avg = []
        for d in ("i2t", "t2i"):
            for g in idents:
                vals = [value(g, dom, f"{d}_R@{k}") for dom in domains]
                avg.append(sum(vals) / len(vals) if all(v is not None for v in vals) else None)
        rows.append(["AVG", k] + avg)
    legend = []
    by_trainer: dict[str, dict[tuple, list[Run]]] = defaultdict(dict)
    for g in idents:
        by_trainer[g[0]][g] = groups[g]
    for same in by_trainer.values():
        differ = how_groups_differ(same)
        for g, runs in same.items():
            differs = len(same) > 1 and differ[g] != "reference"
            extra = f"; differs from {names[next(iter(same))]} in {differ[g]}" if differs else ""
            seeds = [r.seed for r in runs if r.seed is not None]
            repeated = sorted({s for s in seeds if seeds.count(s) > 1})
            if repeated:
                extra += f"; WARNING: seed(s) {repeated} appear more than once (the same run twice?)"
            legend.append(f"{names[g]}: {len(runs)} run(s) of {runs[0].label()}{extra}: "
                          + ", ".join(os.path.relpath(r.path, root) for r in runs))
    return headers, rows, legend


def _format(rows: list[list]) -> list[list]:
    return [[f"{v:.2f}" if isinstance(v, float) else ("-" if v is None else v) for v in row] for row in rows]


def write_table(root: str, ks: list[int], out: str) -> int:
    if not os.path.isdir(root):
        return bad_input(f"{root} does not exist: give the folder the runs were written to (OUTPUT_ROOT of the "
                         "scripts, default output)")
    groups, skipped = collect(root)
    for line in skipped:
        print(f"WARNING: {line}")
    if not groups:
        found = f" ({len(skipped)} found, none readable)" if skipped else ""
        return bad_input(f"no results.json found under {root}{found}: give the folder the runs were written to "
                         "(OUTPUT_ROOT of the scripts, default output)")
    headers, rows, legend = build_table(groups, root, ks)
    if skipped:
        legend.append(f"{len(skipped)} run(s) skipped as unreadable (named in the warnings above)")
    fmt = _format(rows)
    md = tabulate(fmt, headers=headers, tablefmt="github", disable_numparse=True)
    fine_headers, fine_rows = fine_grained_table(groups)
    if fine_rows:
        md += ("\n\nNegative discrimination (caption above every negative of a kind) and twin accuracy, AVG over "
               "domains:\n\n" + tabulate(_format(fine_rows), headers=fine_headers, tablefmt="github",
                                          disable_numparse=True))
    listing = "Columns (runs averaged in each):\n" + "\n".join(f"- {line}" for line in legend)
    print(md + "\n\n" + listing)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "table.md"), "w", encoding="utf-8") as f:
        f.write(md + "\n\n" + listing + "\n")
    with open(os.path.join(out, "table.csv"), "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([headers] + fmt)
    print(f"Written {os.path.join(out, 'table.md')} and table.csv")
    return 0


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("directory", nargs="?", help="folder holding seed*/ runs")
    p.add_argument("--ci95", action="store_true", help="report the 95%% t confidence interval of the mean instead of std")
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
