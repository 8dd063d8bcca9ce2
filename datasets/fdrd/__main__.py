"""``python -m datasets.fdrd check|download|synth --root $DATA``: inspect, fetch or generate FDRD data
(``synth`` writes FDRDSynth with the default settings)."""
from __future__ import annotations

import argparse
import sys

from tabulate import tabulate

from engine.plugins import default_cfg

from .captions import FDRDFormatError, find_caption_files
from .dataset import FDRD
from .domains import DOMAINS
from .fetch import OfflineError, fetch_captions, fetch_split_files
from .synth import SynthSpec, generate
from .loader import FDRDDataError
from .splits import SplitFileError

HEADERS = ["domain", "classes", "train pairs", "test pairs", "with released negatives", "missing images",
           "unreadable images", "duplicate captions", "over-length captions", "status"]


def _cfg(args: argparse.Namespace, domain: str):
    cfg = default_cfg()
    cfg.DATASET.NAME = "FDRD"
    cfg.DATASET.ROOT = args.root
    cfg.VERBOSE = False
    cfg.SEED = 1
    c = cfg.DATASET.FDRD
    c.CAPTION_DIR = args.caption_dir
    c.DOMAINS = (domain,)
    c.EVAL_ONLY = True
    c.SKIP_BAD_IMAGES = True
    c.SKIP_BAD_ENTRIES = True
    c.CHECK_IMAGES = not args.no_image_check
    return cfg


def check(args: argparse.Namespace) -> int:
    """One table row per domain; exit status 1 when anything is missing or broken."""
    rows, messages, errors = [], [], 0
    for domain in args.domains or [d.name for d in DOMAINS]:
        try:
            ds = FDRD(_cfg(args, domain))
        except (FDRDDataError, FDRDFormatError, SplitFileError, ValueError) as e:
            rows.append([domain, "-", "-", "-", "-", "-", "-", "-", "-", f"ERROR {len(messages) + 1} (below)"])
            messages.append(str(e))
            errors += 1
            continue
        r = ds.reports[0]
        bad = len(r.missing_images) + len(r.unreadable_images) + len(r.bad_entries)
        errors += bool(bad)
        status = "ok" if not bad else f"ERROR: {len(r.bad_entries)} bad entries, {len(r.missing_images) + len(r.unreadable_images)} bad images"
        rows.append([r.domain, r.classes, r.entries.get("train", 0), r.entries.get("test", 0), r.with_released_negatives,
                     len(r.missing_images), len(r.unreadable_images), r.duplicate_captions, r.overlength, status])
    print(tabulate(rows, headers=HEADERS, tablefmt="github"))
    for i, msg in enumerate(messages, 1):
        print(f"ERROR {i}: {msg}")
    return 1 if errors else 0


def download(args: argparse.Namespace) -> int:
    caption_dir = args.caption_dir or f"{args.root}/fdrd"
    try:
        fetched, absent = fetch_captions(caption_dir)
    except OfflineError as e:
        print(f"Offline: {e}.\nCopy the released caption files into {caption_dir} by hand (see README, data).")
        return 1
    print(f"Fetched {len(fetched)} caption files into {caption_dir}; not published: {', '.join(absent) or 'none'}")
    print(f"Found: {sorted(find_caption_files(caption_dir))}")
    if args.splits:
        got, failed = fetch_split_files(args.root)
        print(f"Split files fetched: {len(got)}; failed: {', '.join(failed) or 'none'}")
        return 1 if failed else 0
    return 0


def synth(args: argparse.Namespace) -> int:
    cfg = _cfg(args, "all")
    out_dir = f"{args.root}/{cfg.DATASET.FDRD_SYNTH.DIR}"
    generate(out_dir, SynthSpec.from_cfg(cfg.DATASET.FDRD_SYNTH))
    print(f"FDRDSynth written to {out_dir}")
    return 0


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m datasets.fdrd", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    for name in ("check", "download", "synth"):
        s = sub.add_parser(name)
        s.add_argument("--root", required=True, help="the $DATA folder (CoOp layout)")
        s.add_argument("--caption-dir", default="", help="caption files (default: $DATA/fdrd)")
        if name == "check":
            s.add_argument("--domains", nargs="+", help="domains to check (default: all nine)")
            s.add_argument("--no-image-check", action="store_true", help="do not open every image")
        elif name == "download":
            s.add_argument("--splits", action="store_true", help="also fetch CoOp's split_zhou files (gdown)")
    args = p.parse_args(argv)
    args.no_image_check = getattr(args, "no_image_check", False)
    return {"check": check, "download": download, "synth": synth}[args.command](args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
