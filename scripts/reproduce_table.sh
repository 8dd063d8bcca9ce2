#!/usr/bin/env bash
# The comparison table in one command: zero-shot CLIP, CoOp, CLIP-Adapter, CLIP-LoRA, MaPLe, PromptSRC and DCAR over the
# given dataset configs and seeds, ending with parse_test_res.py --table (the published layout).
#   DATA=/path/to/data bash scripts/reproduce_table.sh                       # the nine FDRD domains, ViT-B/32
#   SHOTS=4 bash scripts/reproduce_table.sh fdrd_synth                        # CPU: synth preset, synth-small
# Every trainable method gets the same budget (10 epochs of batch 32, cosine schedule, one warm-up epoch;
# each method's own learning rate). For the synthetic benchmark with paired statistics see
# benchmarks/synthetic_benchmark.py.
# Environment: DATA (./data), PRESET (vit_b32 | synth: which configs; synth for fdrd_synth alone), SHOTS (16), SEEDS ("1 2 3"),
# OPTS (extra KEY VALUE pairs for every run). Runs go to output/table_PRESET_SHOTSshots/, where
# table.md and table.csv are written; finished runs are reused, unfinished ones resumed.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$*" = "fdrd_synth" ]; then DEFAULT_PRESET=synth; else DEFAULT_PRESET=vit_b32; fi
PRESET=${PRESET:-${DEFAULT_PRESET}}
SHOTS=${SHOTS:-16}
export SEEDS=${SEEDS:-1 2 3}
case "${PRESET}" in
    vit_b32) ZS=vit_b32 COOP=vit_b32_ep10_batch32_16ctx ADAPTER=vit_b32_ep10_batch32 LORA=vit_b32_ep10_batch32
             MAPLE=vit_b32_ep10_batch32_2ctx SRC=vit_b32_ep10_batch32_4+4ctx DCAR=vit_b32_ep10_batch32_2ctx ;;
    synth)   ZS=synth COOP=synth ADAPTER=synth LORA=synth MAPLE=synth SRC=synth DCAR=synth ;;
    *) echo "PRESET must be vit_b32 or synth" >&2; exit 2 ;;
esac
if [ "$#" -gt 0 ]; then DATASETS=("$@"); else
    DATASETS=(fdrd_caltech101 fdrd_oxford_pets fdrd_stanford_cars fdrd_oxford_flowers fdrd_food101
              fdrd_fgvc_aircraft fdrd_sun397 fdrd_dtd fdrd_ucf101)
fi
export OUTPUT_ROOT=output/table_${PRESET}_${SHOTS}shots
read -r -a EXTRA <<< "${OPTS:-}"
start=$(date +%s)
for DATASET in "${DATASETS[@]}"; do
    bash scripts/zsclip/zeroshot.sh "${DATASET}" "${ZS}" "${EXTRA[@]}"
    CFG=${COOP} bash scripts/common/main.sh CoOp "${DATASET}" "${SHOTS}" "${EXTRA[@]}"
    CFG=${ADAPTER} bash scripts/common/main.sh CLIP_Adapter "${DATASET}" "${SHOTS}" "${EXTRA[@]}"
    CFG=${LORA} bash scripts/common/main.sh CLIP_LoRA "${DATASET}" "${SHOTS}" "${EXTRA[@]}"
    CFG=${MAPLE} bash scripts/common/main.sh MaPLe "${DATASET}" "${SHOTS}" "${EXTRA[@]}"
    CFG=${SRC} bash scripts/common/main.sh PromptSRC "${DATASET}" "${SHOTS}" "${EXTRA[@]}"
    CFG=${DCAR} bash scripts/common/main.sh DCAR "${DATASET}" "${SHOTS}" "${EXTRA[@]}"
done
python parse_test_res.py --table "${OUTPUT_ROOT}"
echo "Total time: $(( $(date +%s) - start )) s"
