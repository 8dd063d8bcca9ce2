"""Shared by the benchmarks: one fresh process per setting (so peak memory is its own), and the
result table printed and optionally saved as JSON."""
from __future__ import annotations

import json
import subprocess
import sys

from tabulate import tabulate


def run_child(argv: list[str]) -> dict:
    """Run ``python argv...`` and return the JSON object on its last output line."""
    out = subprocess.run([sys.executable, *argv], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"benchmark process {argv} failed:\n{out.stderr[-3000:]}")
    row = json.loads(out.stdout.strip().splitlines()[-1])
    print(row, flush=True)
    return row


def report(rows: list[dict], json_path: str | None) -> None:
    print(tabulate(rows, headers="keys", tablefmt="github"))
    if json_path:
        with open(json_path, "w", encoding="utf-8") as f:
            json.dump(rows, f, indent=2)
