#!/usr/bin/env bash
# The default config name for a trainer and dataset, when CFG is not set:
#   bash scripts/common/default_cfg.sh TRAINER DATASET
# "synth" for FDRDSynth datasets; otherwise the trainer's one config that is not synth.yaml
# (configs/trainers/TRAINER/); with several, it asks for CFG and lists them.
set -euo pipefail
cd "$(dirname "$0")/../.."
TRAINER=${1:?usage: default_cfg.sh TRAINER DATASET}
DATASET=${2:?usage: default_cfg.sh TRAINER DATASET}
case "${DATASET}" in fdrd_synth*) echo synth; exit 0 ;; esac
mapfile -t names < <(find "configs/trainers/${TRAINER}" -maxdepth 1 -name '*.yaml' ! -name synth.yaml -printf '%f\n' 2>/dev/null | sed 's/\.yaml$//' | sort)
if [ "${#names[@]}" -eq 1 ]; then
    echo "${names[0]}"
    exit 0
fi
echo "ERROR: set CFG to a config name under configs/trainers/${TRAINER}/ (found: ${names[*]:-none})" >&2
exit 2
