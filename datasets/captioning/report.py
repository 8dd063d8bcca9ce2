"""The caption builder's quality report (docs/captioning.md): how each caption was made (reviews,
repairs, rejections, failures, each listed by image) and what the file holds -- token lengths,
attribute kinds mentioned, subcategory-name presence, duplicates -- counted as the loader's
``check`` counts released files."""
from __future__ import annotations

from collections import Counter

from datasets.negatives import AttributeVocabulary
from datasets.text import encode

from .postprocess import BUDGET, names_class

LISTED = 20  # keys listed per outcome in the Markdown report (the JSON lists all)


def quality_report(records: list[dict], total: int, budget: int = BUDGET) -> dict:
    """Figures of the finished work-file ``records`` (``total``: images asked for; ``budget``: tokens)."""
    ok = [r for r in records if r["entry"] is not None]
    captions = [r["entry"]["positive"] for r in ok]
    lengths = sorted(len(encode(c)) for c in captions)
    vocab = AttributeVocabulary.mine(captions)
    kinds = Counter(k for c in captions for k in {vocab.kinds[m.group(0).lower()] for m in vocab.pattern.finditer(c)})
    named = sum(names_class(r["entry"]["positive"], r["entry"]["class_name"]) for r in ok)
    by_caption: dict[str, list[str]] = {}
    for r in ok:
        by_caption.setdefault(r["entry"]["positive"], []).append(r["key"])
    duplicates = {c: keys for c, keys in by_caption.items() if len(keys) > 1}
    outcomes: dict[str, list[str]] = {}
    for r in records:
        b = r["build"]
        for what in [*(f"repaired: {x}" for x in b["repairs"]), *(f"rejected, described again: {x}" for x in b["rejections"])]:
            outcomes.setdefault(what, []).append(r["key"])
        if r["failed"]:
            outcomes.setdefault(f"failed (no caption written): {r['failed']}", []).append(r["key"])
        if b["review_rounds"]:
            verdict = "accepted by the reviewer" if b["accepted_by_reviewer"] else "revised after review (not re-reviewed)"
            outcomes.setdefault(verdict, []).append(r["key"])

    def pct(q: float) -> int:
        return lengths[min(len(lengths) - 1, int(q * len(lengths)))] if lengths else 0

    return {
        "images": total, "finished": len(records), "captions": len(ok), "failed": len(records) - len(ok),
        "tokens": {"min": lengths[0] if lengths else 0, "median": pct(0.5), "p90": pct(0.9),
                   "max": lengths[-1] if lengths else 0, "budget": budget,
                   "over_budget": sum(n > budget for n in lengths)},
        "attribute_kinds_mentioned": {k: kinds[k] for k in sorted(kinds)},
        "with_subcategory_name": named,
        "duplicate_captions": sum(len(k) for k in duplicates.values()),
        "duplicates": list(duplicates.values()),
        "outcomes": {k: {"count": len(v), "keys": v} for k, v in sorted(outcomes.items())},
    }


def render_report(r: dict) -> str:
    n = max(r["captions"], 1)
    t = r["tokens"]
    lines = [f"Captions: {r['captions']:,} of {r['images']:,} images ({r['finished']:,} finished, {r['failed']:,} failed)",
             f"Tokens per caption: min {t['min']}, median {t['median']}, 90th percentile {t['p90']}, max {t['max']} "
             f"(budget {t['budget']}; over it: {t['over_budget']})",
             f"Subcategory name present: {r['with_subcategory_name']:,} ({100 * r['with_subcategory_name'] / n:.1f}%)",
             "Attribute kinds mentioned (captions): " + (", ".join(
                 f"{k} {v:,} ({100 * v / n:.0f}%)" for k, v in r["attribute_kinds_mentioned"].items()) or "none"),
             f"Exact duplicate captions: {r['duplicate_captions']:,} (in {len(r['duplicates'])} groups)",
             "Outcomes:"]
    for what, o in r["outcomes"].items():
        shown = ", ".join(o["keys"][:LISTED]) + (f", ... ({o['count'] - LISTED} more)" if o["count"] > LISTED else "")
        lines.append(f"- {what}: {o['count']:,} ({shown})")
    return "\n".join(lines)
