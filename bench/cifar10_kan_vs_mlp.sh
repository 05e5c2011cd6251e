#!/usr/bin/env bash
# The KAN-vs-MLP CIFAR-10 comparison recorded in bench/RESULTS.md: one run of each twin, same recipe.
#   bash bench/cifar10_kan_vs_mlp.sh EPOCHS RESULTS_DIR [extra train.py overrides...]
# Needs VKAN_DATA_DIR (or ./data) to hold cifar10/. Copies metrics.csv / summary.json of each run to RESULTS_DIR.
set -euo pipefail
epochs=${1:-15}; results=${2:-bench/out}; shift 2 || true
mkdir -p "$results"
for model in vit_kan vit; do
  run=/tmp/vkan_runs/$model
  rm -rf "$run"
  python3 train.py model=$model data=cifar10 trainer.epochs=$epochs logger=none trainer.progress_bar=false \
    hydra.run.dir=$run "$@" 2>&1 | tee "$results/$model.log"
  cp "$run/metrics.csv" "$results/${model}_metrics.csv"
  cp "$run/summary.json" "$results/${model}_summary.json"
done
