#!/usr/bin/env bash
# Train DCAR over few-shot seeds 1 2 3:  bash scripts/dcar/main.sh DATASET SHOTS [KEY VALUE ...]
#   DATA=/path/to/data bash scripts/dcar/main.sh fdrd_caltech101 16
#   bash scripts/dcar/main.sh fdrd_synth 16      # CPU demo: FDRDSynth, the small pretrained CLIP
# Outputs: output/DATASET/DCAR/CFG_SHOTSshots/seedN/ (see scripts/common/main.sh).
exec bash "$(dirname "$0")/../common/main.sh" DCAR "$@"
