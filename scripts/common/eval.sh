#!/usr/bin/env bash
# Evaluate the models saved by main.sh (each seed), e.g. on another dataset config.
#   bash scripts/common/eval.sh TRAINER TRAIN_DATASET SHOTS [EVAL_DATASET] [KEY VALUE ...]
# Environment: DATA, CFG, SEEDS as for main.sh; LOAD_EPOCH (default: best-val, else last checkpoint).
set -euo pipefail
cd "$(dirname "$0")/../.."
TRAINER=${1:?usage: eval.sh TRAINER TRAIN_DATASET SHOTS [EVAL_DATASET] [KEY VALUE ...]}
TRAIN_DATASET=${2:?usage}
SHOTS=${3:?usage}
EVAL_DATASET=${4:-${TRAIN_DATASET}}
shift $(( $# >= 4 ? 4 : 3 ))
DATA=${DATA:-./data}
CFG=${CFG:?set CFG to a config name under configs/trainers/${TRAINER}/}
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
