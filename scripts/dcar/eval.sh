#!/usr/bin/env bash
# Evaluate saved DCAR models:  bash scripts/dcar/eval.sh TRAIN_DATASET SHOTS [EVAL_DATASET] [KEY VALUE ...]
export CFG=${CFG:-vit_b32_ep10_batch32_2ctx}
exec bash "$(dirname "$0")/../common/eval.sh" DCAR "$@"
