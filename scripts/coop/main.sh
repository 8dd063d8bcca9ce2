#!/usr/bin/env bash
# Train CoOp (retrieval) over few-shot seeds 1 2 3:  bash scripts/coop/main.sh DATASET SHOTS [KEY VALUE ...]
# DATA, CFG (default vit_b32_ep50_batch32_16ctx) and SEEDS from the environment; see scripts/common/main.sh.
export CFG=${CFG:-vit_b32_ep50_batch32_16ctx}
exec bash "$(dirname "$0")/../common/main.sh" CoOp "$@"
