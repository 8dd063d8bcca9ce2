#!/usr/bin/env bash
# The comparison table in one command: every method of methods.py's table (python -m methods list) over the
# given dataset configs and seeds, ending with parse_test_res.py --table (the published layout).
#   DATA=/path/to/data bash scripts/reproduce_table.sh                       # the nine FDRD domains, ViT-B/32
#   SHOTS=4 bash scripts/reproduce_table.sh fdrd_synth                        # CPU: synth preset, synth-small
# Every trainable method gets the same budget (10 epochs of batch 32, cosine schedule, one warm-up epoch;
# each method's own learning rate). For the synthetic benchmark with paired statistics see
# python -m benchmarks run synthetic_benchmark (benchmarks/studies/synthetic_benchmark.py).
# Environment: DATA (./data), PRESET (vit_b32 | synth: which configs; synth for fdrd_synth alone), SHOTS (16), SEEDS ("1 2 3"),
# OPTS (extra KEY VALUE pairs for every run). Runs go to output/table_PRESET_SHOTSshots/, where
# table.md and table.csv are written; finished runs are reused, unfinished ones resumed.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$*" = "fdrd_synth" ]; then DEFAULT_PRESET=synth; else DEFAULT_PRESET=vit_b32; fi
PRESET=${PRESET:-${DEFAULT_PRESET}}
SHOTS=${SHOTS:-16}
export SEEDS=${SEEDS:-1 2 3}
TABLE=$(python -m methods table "${PRESET}")  # the methods and their configs (methods.py, which names the presets)
mapfile -t RUNS <<< "${TABLE}"
if [ "$#" -gt 0 ]; then DATASETS=("$@"); else
    DATASETS=(fdrd_caltech101 fdrd_oxford_pets fdrd_stanford_cars fdrd_oxford_flowers fdrd_food101
              fdrd_fgvc_aircraft fdrd_sun397 fdrd_dtd fdrd_ucf101)
fi
export OUTPUT_ROOT=output/table_${PRESET}_${SHOTS}shots
read -r -a EXTRA <<< "${OPTS:-}"
start=$(date +%s)
for DATASET in "${DATASETS[@]}"; do
    for RUN in "${RUNS[@]}"; do
        read -r TRAINER CFG MODE <<< "${RUN}"
        if [ "${MODE}" = eval ]; then  # zero-shot CLIP: evaluated as it is
            bash scripts/zsclip/zeroshot.sh "${DATASET}" "${CFG}" "${EXTRA[@]}"
        else
            CFG=${CFG} bash scripts/common/main.sh "${TRAINER}" "${DATASET}" "${SHOTS}" "${EXTRA[@]}"
        fi
    done
done
python parse_test_res.py --table "${OUTPUT_ROOT}"
echo "Total time: $(( $(date +%s) - start )) s"
