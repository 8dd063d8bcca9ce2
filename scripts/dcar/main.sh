#!/usr/bin/env bash
# Train DCAR over few-shot seeds 1 2 3:  bash scripts/dcar/main.sh DATASET SHOTS [KEY VALUE ...]
#   DATA=/path/to/data bash scripts/dcar/main.sh fdrd_caltech101 16
#   bash scripts/dcar/main.sh fdrd_synth 16      # CPU demo: FDRDSynth, the small pretrained CLIP
# Outputs: output/DATASET/DCAR/CFG_SHOTSshots/seedN/ (see scripts/common/main.sh).
case "${1:-}" in fdrd_synth*) DEFAULT_CFG=synth ;; *) DEFAULT_CFG=vit_b32_ep10_batch32_2ctx ;; esac
export CFG=${CFG:-${DEFAULT_CFG}}
exec bash "$(dirname "$0")/../common/main.sh" DCAR "$@"
