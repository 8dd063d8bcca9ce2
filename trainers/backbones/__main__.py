"""``python -m trainers.backbones list`` prints the CLIP names; ``... fetch NAME`` downloads one
(on a machine with internet; progress bar), checks that it builds a CLIP and prints where it is,
so that the Hugging Face cache can be copied to a cluster without internet (docs/backbones.md)."""
from __future__ import annotations

import argparse
import sys

from reporting.cli import bad_input

from . import hub, names
from .loading import load, locate


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m trainers.backbones", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="the names MODEL.BACKBONE.NAME accepts")
    fetch = sub.add_parser("fetch", help="download one CLIP's weights into the Hugging Face cache")
    fetch.add_argument("name")
    a = p.parse_args(argv)
    if a.command == "list":
        print("\n".join(names.describe()))
        return 0
    try:
        found = locate(a.name, allow_download=True)
        load(found)  # the file builds a CLIP: a damaged or foreign file is found here, not in a later run
    except (OSError, ValueError) as e:
        return bad_input(e)
    print(f"file: {found.path}")
    print(f"Hugging Face cache: {hub.cache_root()} (copy it to the same place on the machine that trains, "
          "or point HF_HUB_CACHE at it)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
