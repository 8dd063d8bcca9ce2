#!/usr/bin/env bash
# Train CLIP_Adapter (retrieval) over few-shot seeds 1 2 3:  bash scripts/clip_adapter/main.sh DATASET SHOTS [KEY VALUE ...]
# DATA, CFG (default vit_b32_ep50_batch32) and SEEDS from the environment; see scripts/common/main.sh.
export CFG=${CFG:-vit_b32_ep50_batch32}
exec bash "$(dirname "$0")/../common/main.sh" CLIP_Adapter "$@"
