#!/usr/bin/env bash
# Train DCAR over few-shot seeds 1 2 3:  bash scripts/dcar/main.sh DATASET SHOTS [KEY VALUE ...]
#   DATA=/path/to/data bash scripts/dcar/main.sh fdrd_caltech101 16
#   CFG=tiny_ep5_batch16_2ctx bash scripts/dcar/main.sh fdrd_synth 4 MODEL.BACKBONE.NAME small_clip.pt
# Outputs: output/DATASET/DCAR/CFG_SHOTSshots/seedN/ (see scripts/common/main.sh).
export CFG=${CFG:-vit_b32_ep10_batch32_2ctx}
exec bash "$(dirname "$0")/../common/main.sh" DCAR "$@"
