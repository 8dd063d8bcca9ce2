"""What a run's final evaluation leaves in its folder: ``gallery.png`` and ``results.json``
(docs/model.md, "Evaluation"). ``results.json`` marks a run as finished, so it is written last,
whole (``write_atomic``)."""
from __future__ import annotations

import json
import os
from typing import Any

from engine.writes import write_atomic

from .pictures import plot_gallery
from .retrieval import RetrievalResult


def results_record(result: RetrievalResult, run: dict[str, Any]) -> dict[str, Any]:
    """``results.json``'s content: the metrics, per-domain metrics, gallery sizes and each query's
    rank, then ``run`` (the run's identity: trainer, backbone, config, skipped data, ...)."""
    return {"metrics": result.metrics, "per_domain": result.per_domain, "domains": list(result.per_domain),
            "sizes": result.sizes,
            "duplicate_captions": sum(s["duplicate_captions"] for s in result.sizes.values()),
            "ks": list(result.ks), "item_ranks": result.item_ranks, **run}


def write_final(output_dir: str, result: RetrievalResult, run: dict[str, Any]) -> str:
    """Draw the gallery, then write ``results.json``; returns its path."""
    os.makedirs(output_dir, exist_ok=True)
    gallery = os.path.join(output_dir, "gallery.png")
    plot_gallery(result.snapshot, gallery)
    print(f"Retrieval gallery drawn to {gallery}")
    path = os.path.join(output_dir, "results.json")
    write_atomic(path, json.dumps(results_record(result, run), indent=2))
    return path
