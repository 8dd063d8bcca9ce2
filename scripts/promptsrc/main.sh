#!/usr/bin/env bash
# Train PromptSRC (retrieval) over few-shot seeds 1 2 3:  bash scripts/promptsrc/main.sh DATASET SHOTS [KEY VALUE ...]
# DATA, CFG (default vit_b32_ep10_batch32_4+4ctx; synth for fdrd_synth) and SEEDS from the environment; see scripts/common/main.sh.
case "${1:-}" in fdrd_synth*) DEFAULT_CFG=synth ;; *) DEFAULT_CFG=vit_b32_ep10_batch32_4+4ctx ;; esac
export CFG=${CFG:-${DEFAULT_CFG}}
exec bash "$(dirname "$0")/../common/main.sh" PromptSRC "$@"
