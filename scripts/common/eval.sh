#!/usr/bin/env bash
# Evaluate the models saved by main.sh (each seed), e.g. on another dataset config.
#   bash scripts/common/eval.sh TRAINER TRAIN_DATASET SHOTS [EVAL_DATASET] [KEY VALUE ...]
# Environment: DATA, CFG (default: synth for fdrd_synth*, else the trainer's one other config; see
# scripts/common/default_cfg.sh), SEEDS as for main.sh; LOAD_EPOCH (default: best-val, else last checkpoint).
#   e.g. bash scripts/common/eval.sh DCAR fdrd_synth 16          # CFG=synth
set -euo pipefail
cd "$(dirname "$0")/../.."
TRAINER=${1:?usage: eval.sh TRAINER TRAIN_DATASET SHOTS [EVAL_DATASET] [KEY VALUE ...]}
TRAIN_DATASET=${2:?usage}
SHOTS=${3:?usage}
EVAL_DATASET=${TRAIN_DATASET}
if [ $# -ge 4 ] && [ -f "configs/datasets/${4}.yaml" ]; then  # else the 4th argument starts the KEY VALUE pairs
    EVAL_DATASET=$4
    shift
fi
shift 3
DATA=${DATA:-./data}
CFG=${CFG:-$(bash scripts/common/default_cfg.sh "${TRAINER}" "${TRAIN_DATASET}")}
SEEDS=${SEEDS:-1 2 3}
EPOCH_ARGS=()
if [ -n "${LOAD_EPOCH:-}" ]; then EPOCH_ARGS=(--load-epoch "${LOAD_EPOCH}"); fi
EXP=${OUTPUT_ROOT:-output}/evaluation/${TRAINER}/${CFG}_${SHOTS}shots/${EVAL_DATASET}
for SEED in ${SEEDS}; do
    python train.py --root "${DATA}" --seed "${SEED}" --trainer "${TRAINER}" \
        --dataset-config-file "configs/datasets/${EVAL_DATASET}.yaml" \
        --config-file "configs/trainers/${TRAINER}/${CFG}.yaml" \
        --output-dir "${EXP}/seed${SEED}" \
        --model-dir "${OUTPUT_ROOT:-output}/${TRAIN_DATASET}/${TRAINER}/${CFG}_${SHOTS}shots/seed${SEED}" \
        --eval-only "${EPOCH_ARGS[@]}" "$@"
done
python parse_test_res.py "${EXP}" --seeds ${SEEDS}
