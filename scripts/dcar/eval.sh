#!/usr/bin/env bash
# Evaluate saved DCAR models:  bash scripts/dcar/eval.sh TRAIN_DATASET SHOTS [EVAL_DATASET] [KEY VALUE ...]
exec bash "$(dirname "$0")/../common/eval.sh" DCAR "$@"
