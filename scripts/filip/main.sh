#!/usr/bin/env bash
# Train FILIP (retrieval) over few-shot seeds 1 2 3:  bash scripts/filip/main.sh DATASET SHOTS [KEY VALUE ...]
# DATA, CFG (default: its config in methods.py; synth for fdrd_synth) and SEEDS from the environment; see scripts/common/main.sh.
exec bash "$(dirname "$0")/../common/main.sh" FILIP "$@"
