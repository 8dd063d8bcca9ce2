"""``python -m datasets.fdrd check|present|download|synth|build-captions --root $DATA``: inspect,
list, fetch, generate or caption FDRD data. Bad input (a missing root or caption folder, a bad
setting) is one ``ERROR:`` line and exit status 2.

* ``check``: one row per domain with classes, pairs and everything counted, then the negatives
  made per domain and split (attribute negatives by kind, synonym, out-of-domain and fallback
  rates; ``--json FILE`` writes them). Domains without any caption file are "not present" (an
  error only when named with ``--domains``); a domain with a train file only can train but has
  nothing to evaluate on, and is reported as such. Every bad entry and image is named (the first
  few of each kind on screen, all with ``--json``). Exit status 0 when everything present is
  valid, 1 when something is broken.
* ``present``: the domains usable for training and evaluation, one per line (the others, with
  the reason, on stderr); ``scripts/common/main.sh fdrd`` loops over them.
* ``synth``: writes FDRDSynth with the default settings (into its own folder; nothing is deleted);
  ``--image-list FILE --split train`` also lists that split's images for ``build-captions``.
* ``build-captions``: captions a new domain's images with a VLM (``datasets/captioning``,
  ``python -m datasets.fdrd build-captions --help``).
"""
from __future__ import annotations

import argparse
import json
import os
import sys

from tabulate import tabulate

from engine.writes import write_atomic
from reporting.cli import bad_input

from .captions import FDRDFormatError, expected_files, find_caption_files
from .domains import DOMAINS, Domain, find_domain
from .fetch import OfflineError, fetch_captions, fetch_split_files
from .loader import DomainReport, FDRDDataError, LoadOptions, NegativeCounts, load_domain
from .splits import SplitFileError
from .synth import SynthSpec, ensure_generated, write_image_list
from .synth_folder import DIR_KEY

HEADERS = ["domain", "classes", "train pairs", "test pairs", "with released negatives", "missing images",
           "unreadable images", "duplicate captions", "over-length captions", "status"]


SHOWN = 10  # bad entries and images named on screen per domain and kind (all of them in --json)


def _caption_dir(args: argparse.Namespace, must_exist: bool = True) -> str:
    """The caption folder; a missing ``--root`` or caption folder is bad input, not "0 domains present"."""
    if not must_exist:
        return os.path.abspath(args.caption_dir or os.path.join(args.root, "fdrd"))
    if not os.path.isdir(args.root):
        raise ValueError(f"--root {args.root} does not exist: give the $DATA folder that holds fdrd/ (the caption "
                         "files) and the image folders in CoOp's layout")
    folder = _caption_dir(args, must_exist=False)
    if not os.path.isdir(folder):
        given = "--caption-dir" if args.caption_dir else f"--root {args.root} has no fdrd/ folder:"
        raise ValueError(f"{given} {folder} does not exist; it should hold the released caption files "
                         f"(python -m datasets.fdrd download --root {args.root}, or copy them there; docs/data.md)")
    return folder


def _files(domain: Domain, found: dict[tuple[str, str], str]) -> dict[str, str]:
    return {s: found[(domain.name, s)] for s in ("train", "test") if (domain.name, s) in found}


def _status(r: DomainReport) -> tuple[str, bool]:
    """(status text, whether it is an error)."""
    bad_images = len(r.missing_images) + len(r.unreadable_images)
    if r.bad_entries or bad_images:
        return f"ERROR: {len(r.bad_entries)} bad entries, {bad_images} bad images", True
    if "test" not in r.files:
        return "train file only: can train, no test file to evaluate on (see DATASET.FDRD.HOLDOUT_TEST)", False
    if "train" not in r.files:
        return "test file only: evaluation only", False
    return "ok", False


def check(args: argparse.Namespace) -> int:
    """One table row per domain; exit status 1 when a present domain is broken or a named one absent."""
    caption_dir = _caption_dir(args)
    found = find_caption_files(caption_dir)
    opts = LoadOptions(seed=1, skip_bad_images=True, skip_bad_entries=True, check_images=not args.no_image_check,
                       eval_only=True, attribute_swaps=args.attribute_swaps, captions_only=args.captions_only)
    rows, messages, errors, present, negatives, problems = [], [], 0, 0, {}, {}
    for name in args.domains or [d.name for d in DOMAINS]:
        try:
            domain = find_domain(name)
            files = _files(domain, found)
            if not files:
                if args.domains:
                    raise FDRDDataError(f"{domain.name}: no caption file in {caption_dir} (expected {expected_files(domain)})")
                rows.append([domain.name] + ["-"] * 8 + ["not present"])
                continue
            present += 1
            r = load_domain(domain, 0, 0, files, os.path.abspath(args.root), opts)[2]
        except (FDRDDataError, FDRDFormatError, SplitFileError, ValueError) as e:
            rows.append([name] + ["-"] * 8 + [f"ERROR {len(messages) + 1} (below)"])
            messages.append(str(e))
            errors += 1
            continue
        status, bad = _status(r)
        errors += bad
        negatives[r.domain] = {split: c.summary() for split, c in r.negatives.items()}
        if r.problems():
            problems[r.domain] = r
        counts = [r.entries.get("train"), r.entries.get("test"), r.with_released_negatives, len(r.missing_images),
                  len(r.unreadable_images), r.duplicate_captions, r.overlength]
        rows.append([r.domain, f"{r.classes:,}"] + ["-" if n is None else f"{n:,}" for n in counts] + [status])
    print(tabulate(rows, headers=HEADERS, tablefmt="github", disable_numparse=True))
    for i, msg in enumerate(messages, 1):
        print(f"ERROR {i}: {msg}")
    for r in problems.values():
        print("\n".join(r.problem_lines(SHOWN)))
    for name, splits in negatives.items():
        for split, summary in splits.items():
            print(f"{name} {split}: " + NegativeCounts.text(summary))
    if args.json:
        record = {"attribute_swaps": args.attribute_swaps, "domains": negatives,
                  "problems": {name: r.problems() for name, r in problems.items()}}
        write_atomic(args.json, json.dumps(record, indent=1))
        print(f"Negatives per domain and split, and every bad entry and image, written to {args.json}")
    elif any(len(v) > SHOWN for r in problems.values() for v in r.problems().values()):
        print("--json FILE lists every bad entry and image")
    print(f"{present} of {len(rows)} domains present in {caption_dir}; "
          + ("all of them valid." if not errors else f"{errors} with errors."))
    return 1 if errors else 0


def present(args: argparse.Namespace) -> int:
    """Print the domains with both a train and a test caption file; the others go to stderr."""
    found = find_caption_files(_caption_dir(args))
    for d in DOMAINS:
        files = _files(d, found)
        if len(files) == 2:
            print(d.name)
        else:
            why = "not present" if not files else f"{next(iter(files))} file only"
            print(f"{d.name}: {why}", file=sys.stderr)
    return 0


def download(args: argparse.Namespace) -> int:
    caption_dir = _caption_dir(args, must_exist=False)
    try:
        fetched, absent = fetch_captions(caption_dir)
    except OfflineError as e:
        return bad_input(f"cannot download (offline: {e}). Copy the released caption files into {caption_dir} by hand "
                         "(docs/data.md), or run this on a machine with internet and copy the folder")
    print(f"Fetched {len(fetched)} caption files into {caption_dir}; not published: {', '.join(absent) or 'none'}")
    print(f"Found: {sorted(find_caption_files(caption_dir))}")
    if args.splits:
        got, failed = fetch_split_files(args.root)
        print(f"Split files fetched: {len(got)}; failed: {', '.join(failed) or 'none'}")
        return 1 if failed else 0
    return 0


def synth(args: argparse.Namespace) -> int:
    from engine import get_cfg_default

    from .synth import extend_cfg

    cfg = get_cfg_default()
    extend_cfg(cfg)
    c = cfg.DATASET.FDRD_SYNTH
    c.DIR = args.dir
    rel = ensure_generated(os.path.abspath(args.root), c.DIR, SynthSpec.from_cfg(c))
    folder = os.path.join(args.root, rel)
    print(f"FDRDSynth is in {folder}")
    if args.image_list:
        n = write_image_list(folder, args.split, args.image_list)
        print(f"{n:,} {args.split} images listed in {args.image_list} (paths relative to {folder})")
    return 0


COMMANDS = {
    "check": "validate the caption files and images, name every bad one, count the negatives",
    "present": "list the domains usable for training and evaluation",
    "download": "fetch the released caption files (and CoOp's split files with --splits)",
    "synth": "generate FDRDSynth",
    "build-captions": "caption a new domain's images with a VLM (build-captions --help)",
}


def main(argv: list[str]) -> int:
    if argv[:1] == ["build-captions"]:  # its own parser: datasets/captioning/build.py
        from datasets.captioning.build import main as build_captions

        return build_captions(argv[1:])
    p = argparse.ArgumentParser(prog="python -m datasets.fdrd", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    for name, what in COMMANDS.items():
        s = sub.add_parser(name, help=what, add_help=name != "build-captions")
        if name == "build-captions":  # dispatched above, to its own parser
            continue
        s.add_argument("--root", required=True, help="the $DATA folder (CoOp layout)")
        if name != "synth":
            s.add_argument("--caption-dir", default="", help="caption files (default: $DATA/fdrd)")
        if name == "check":
            s.add_argument("--domains", nargs="+", help="domains to check (default: every domain present)")
            s.add_argument("--no-image-check", action="store_true", help="do not decode every image")
            s.add_argument("--captions-only", action="store_true",
                           help="count what the caption files tell without looking at any image")
            s.add_argument("--attribute-swaps", choices=("lexicon", "domain"), default="lexicon",
                           help="which attribute-swap generator to count (datasets/negatives.py)")
            s.add_argument("--json", default="", metavar="FILE",
                           help="write the negatives made per domain and split (by kind, synonym, out-of-domain and "
                                "fallback rates) and every bad entry and image to FILE")
        elif name == "download":
            s.add_argument("--splits", action="store_true", help="also fetch CoOp's split_zhou files (gdown)")
        elif name == "synth":
            s.add_argument("--dir", default="fdrd_synth", help=f"the folder under --root ({DIR_KEY})")
            s.add_argument("--image-list", default="", metavar="FILE",
                           help="also write an image,class CSV of --split's images (for build-captions)")
            s.add_argument("--split", default="train", choices=("train", "test"))
    args = p.parse_args(argv)
    try:
        return {"check": check, "present": present, "download": download, "synth": synth}[args.command](args)
    except ValueError as e:  # bad settings: one line, as train.py reports them
        return bad_input(e)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
