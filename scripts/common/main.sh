#!/usr/bin/env bash
# Train TRAINER on DATASET with SHOTS images per class for each seed, then aggregate.
#   bash scripts/common/main.sh TRAINER DATASET SHOTS [KEY VALUE ...]
# Environment: OUTPUT_ROOT (default output), DATA (dataset root, default ./data), CFG (config name under configs/trainers/TRAINER/,
# default: scripts/common/default_cfg.sh), SEEDS (default "1 2 3"), GPUS (default 1; more runs each seed with torchrun on that
# many GPUs, the config's batch size being the global batch).
# train.py decides per seed: a folder whose results.json comes from this configuration is finished
# (said so, nothing redone); a folder without it is an unfinished run, resumed from its last
# checkpoint; a folder holding a run of another configuration is refused with the differing keys.
# DATASET "fdrd" trains one model per FDRD domain present (configs/datasets/fdrd_<domain>.yaml) in turn.
set -euo pipefail
cd "$(dirname "$0")/../.."
TRAINER=${1:?usage: main.sh TRAINER DATASET SHOTS [KEY VALUE ...]}
DATASET=${2:?usage: main.sh TRAINER DATASET SHOTS [KEY VALUE ...]}
SHOTS=${3:?usage: main.sh TRAINER DATASET SHOTS [KEY VALUE ...]}
shift 3
DATA=${DATA:-./data}
CFG=${CFG:-$(bash scripts/common/default_cfg.sh "${TRAINER}" "${DATASET}")}
SEEDS=${SEEDS:-1 2 3}
GPUS=${GPUS:-1}
LAUNCH=(python)
if [ "${GPUS}" -gt 1 ]; then
    LAUNCH=(python -m torch.distributed.run --standalone --nproc_per_node="${GPUS}")
fi
if [ "${DATASET}" = "fdrd" ]; then
    # FDRD models are trained per domain (as in the paper): one run per domain whose train and test
    # caption files are present; the others are skipped with the reason (also written to
    # OUTPUT_ROOT/fdrd_skipped.json). A train-only domain runs on its own with
    # DATASET.FDRD.HOLDOUT_TEST (docs/data.md).
    declare -A DOMAIN_OF=([fdrd_caltech101]=Caltech101 [fdrd_oxford_pets]=OxfordPets
        [fdrd_stanford_cars]=StanfordCars [fdrd_oxford_flowers]=Flowers102 [fdrd_food101]=Food101
        [fdrd_fgvc_aircraft]=FGVCAircraft [fdrd_sun397]=SUN397 [fdrd_dtd]=DTD [fdrd_ucf101]=UCF101)
    reasons=$(mktemp)
    present=" $(python -m datasets.fdrd present --root "${DATA}" 2>"${reasons}" | tr '\n' ' ') "
    failed=()
    skipped=()
    for D in fdrd_caltech101 fdrd_oxford_pets fdrd_stanford_cars fdrd_oxford_flowers fdrd_food101 \
             fdrd_fgvc_aircraft fdrd_sun397 fdrd_dtd fdrd_ucf101; do
        if [[ "${present}" != *" ${DOMAIN_OF[${D}]} "* ]]; then
            why=$(grep "^${DOMAIN_OF[${D}]}:" "${reasons}" || echo "${DOMAIN_OF[${D}]}: not usable")
            echo "Skipping ${D}: ${why}"
            skipped+=("${D}" "${why}")
            continue
        fi
        bash "$0" "${TRAINER}" "${D}" "${SHOTS}" "$@" || failed+=("${D}")
    done
    rm -f "${reasons}"
    mkdir -p "${OUTPUT_ROOT:-output}"
    python -c 'import json, sys; a = sys.argv[2:]; json.dump(dict(zip(a[::2], a[1::2])), open(sys.argv[1], "w"), indent=1)' \
        "${OUTPUT_ROOT:-output}/fdrd_skipped.json" "${skipped[@]}"
    echo "FDRD domains skipped: $(( ${#skipped[@]} / 2 )) (listed in ${OUTPUT_ROOT:-output}/fdrd_skipped.json)"
    if [ "${#failed[@]}" -gt 0 ]; then
        echo "Failed domains (see their messages above): ${failed[*]}" >&2
        exit 1
    fi
    exit 0
fi
EXP=${OUTPUT_ROOT:-output}/${DATASET}/${TRAINER}/${CFG}_${SHOTS}shots
for SEED in ${SEEDS}; do
    DIR=${EXP}/seed${SEED}
    "${LAUNCH[@]}" train.py --root "${DATA}" --seed "${SEED}" --trainer "${TRAINER}" \
        --dataset-config-file "configs/datasets/${DATASET}.yaml" \
        --config-file "configs/trainers/${TRAINER}/${CFG}.yaml" \
        --output-dir "${DIR}" \
        DATASET.NUM_SHOTS "${SHOTS}" "$@"
done
python parse_test_res.py "${EXP}" --seeds ${SEEDS}
