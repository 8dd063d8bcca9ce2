#!/usr/bin/env bash
# Evaluate saved DCAR models:  bash scripts/dcar/eval.sh TRAIN_DATASET SHOTS [EVAL_DATASET] [KEY VALUE ...]
case "${1:-}" in fdrd_synth*) DEFAULT_CFG=synth ;; *) DEFAULT_CFG=vit_b32_ep10_batch32_2ctx ;; esac
export CFG=${CFG:-${DEFAULT_CFG}}
exec bash "$(dirname "$0")/../common/eval.sh" DCAR "$@"
