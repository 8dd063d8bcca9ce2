#!/usr/bin/env bash
# The default config name for a trainer and dataset, when CFG is not set:
#   bash scripts/common/default_cfg.sh TRAINER DATASET
# The method's config in methods.py's table: "synth" for FDRDSynth datasets, else its vit_b32 config;
# a trainer without one asks for CFG (exit 2).
set -euo pipefail
cd "$(dirname "$0")/../.."
TRAINER=${1:?usage: default_cfg.sh TRAINER DATASET}
DATASET=${2:?usage: default_cfg.sh TRAINER DATASET}
exec python -m methods config "${TRAINER}" "${DATASET}"
