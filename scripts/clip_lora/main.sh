#!/usr/bin/env bash
# Train CLIP_LoRA (retrieval) over few-shot seeds 1 2 3:  bash scripts/clip_lora/main.sh DATASET SHOTS [KEY VALUE ...]
# DATA, CFG (default vit_b32_ep10_batch32; synth for fdrd_synth) and SEEDS from the environment; see scripts/common/main.sh.
case "${1:-}" in fdrd_synth*) DEFAULT_CFG=synth ;; *) DEFAULT_CFG=vit_b32_ep10_batch32 ;; esac
export CFG=${CFG:-${DEFAULT_CFG}}
exec bash "$(dirname "$0")/../common/main.sh" CLIP_LoRA "$@"
