#!/usr/bin/env bash
# Train MaPLe (retrieval) over few-shot seeds 1 2 3:  bash scripts/maple/main.sh DATASET SHOTS [KEY VALUE ...]
# DATA, CFG (default vit_b32_ep5_batch32_2ctx) and SEEDS from the environment; see scripts/common/main.sh.
export CFG=${CFG:-vit_b32_ep5_batch32_2ctx}
exec bash "$(dirname "$0")/../common/main.sh" MaPLe "$@"
