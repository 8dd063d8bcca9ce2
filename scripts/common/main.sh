#!/usr/bin/env bash
# Train TRAINER on DATASET with SHOTS images per class for each seed, then aggregate.
#   bash scripts/common/main.sh TRAINER DATASET SHOTS [KEY VALUE ...]
# Environment: OUTPUT_ROOT (default output), DATA (dataset root, default ./data), CFG (config name under configs/trainers/TRAINER/,
# default DEFAULT_CFG), SEEDS (default "1 2 3"), GPUS (default 1; more runs each seed with torchrun on that
# many GPUs, the config's batch size being the global batch).
# A seed whose results.json exists is finished and skipped (said so); a seed folder without it is an
# unfinished run and is resumed from its last checkpoint; nothing is skipped silently.
# DATASET "fdrd" trains one model per FDRD domain (configs/datasets/fdrd_<domain>.yaml) in turn.
set -euo pipefail
cd "$(dirname "$0")/../.."
TRAINER=${1:?usage: main.sh TRAINER DATASET SHOTS [KEY VALUE ...]}
DATASET=${2:?usage: main.sh TRAINER DATASET SHOTS [KEY VALUE ...]}
SHOTS=${3:?usage: main.sh TRAINER DATASET SHOTS [KEY VALUE ...]}
shift 3
DATA=${DATA:-./data}
CFG=${CFG:?set CFG to a config name under configs/trainers/${TRAINER}/}
SEEDS=${SEEDS:-1 2 3}
GPUS=${GPUS:-1}
LAUNCH=(python)
if [ "${GPUS}" -gt 1 ]; then
    LAUNCH=(python -m torch.distributed.run --standalone --nproc_per_node="${GPUS}")
fi
if [ "${DATASET}" = "fdrd" ]; then
    # FDRD models are trained per domain (as in the paper): one run per domain config.
    failed=()
    for D in fdrd_caltech101 fdrd_oxford_pets fdrd_stanford_cars fdrd_oxford_flowers fdrd_food101 \
             fdrd_fgvc_aircraft fdrd_sun397 fdrd_dtd fdrd_ucf101; do
        bash "$0" "${TRAINER}" "${D}" "${SHOTS}" "$@" || failed+=("${D}")
    done
    if [ "${#failed[@]}" -gt 0 ]; then
        echo "Failed domains (see their messages above, e.g. caption files not found): ${failed[*]}" >&2
        exit 1
    fi
    exit 0
fi
EXP=${OUTPUT_ROOT:-output}/${DATASET}/${TRAINER}/${CFG}_${SHOTS}shots
for SEED in ${SEEDS}; do
    DIR=${EXP}/seed${SEED}
    if [ -f "${DIR}/results.json" ]; then
        echo "Finished: ${DIR} has results.json (delete the folder to run it again)"
        continue
    fi
    if [ -d "${DIR}" ]; then
        echo "Unfinished run in ${DIR}: resuming from its last checkpoint"
    fi
    "${LAUNCH[@]}" train.py --root "${DATA}" --seed "${SEED}" --trainer "${TRAINER}" \
        --dataset-config-file "configs/datasets/${DATASET}.yaml" \
        --config-file "configs/trainers/${TRAINER}/${CFG}.yaml" \
        --output-dir "${DIR}" \
        DATASET.NUM_SHOTS "${SHOTS}" "$@"
done
python parse_test_res.py "${EXP}" --seeds ${SEEDS}
