"""How retrieval metrics are written: recalls (and their means), negative discrimination and
twin accuracy in percent; RSUM (a sum of recalls) and ranks as plain numbers."""
from __future__ import annotations


def is_percent(name: str) -> bool:
    metric = name.rsplit("/", 1)[-1]
    return "_R@" in metric or metric.endswith("_mean") or metric.startswith(("negdisc_", "twin_"))


def format_metric(name: str, value: float, spread: float | None = None, spread_name: str = "std") -> str:
    unit = "%" if is_percent(name) else ""
    if spread is None:
        return f"* {name}: {value:.2f}{unit}"
    return f"* {name}: {value:.2f}{unit} +- {spread:.2f}{unit} ({spread_name})"
