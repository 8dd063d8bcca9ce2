#!/usr/bin/env bash
# Zero-shot CLIP retrieval (the CLIP column of the table) on a dataset config.
#   bash scripts/zsclip/zeroshot.sh DATASET [CFG] [KEY VALUE ...]
#   e.g. DATA=/data bash scripts/zsclip/zeroshot.sh fdrd_caltech101
#        bash scripts/zsclip/zeroshot.sh fdrd_synth              # synth config, synth-small backbone
# DATA: dataset root (default ./data). OUTPUT_ROOT: default output. SEEDS: seeds to run (default "1"; zero-shot is deterministic).
set -euo pipefail
cd "$(dirname "$0")/../.."
DATASET=${1:?usage: zeroshot.sh DATASET [CFG] [KEY VALUE ...]}
CFG=${2:-$(bash scripts/common/default_cfg.sh ZeroshotCLIP "${DATASET}")}  # methods.py: synth for fdrd_synth*, else vit_b32
shift $(( $# >= 2 ? 2 : 1 ))
DATA=${DATA:-./data}
SEEDS=${SEEDS:-1}
for SEED in ${SEEDS}; do
    DIR=${OUTPUT_ROOT:-output}/${DATASET}/ZeroshotCLIP/${CFG}/seed${SEED}
    python train.py --root "${DATA}" --seed "${SEED}" --trainer ZeroshotCLIP \
        --dataset-config-file "configs/datasets/${DATASET}.yaml" \
        --config-file "configs/trainers/ZeroshotCLIP/${CFG}.yaml" \
        --output-dir "${DIR}" --eval-only "$@"
done
python parse_test_res.py "${OUTPUT_ROOT:-output}/${DATASET}/ZeroshotCLIP/${CFG}" --seeds ${SEEDS}
