#!/usr/bin/env bash
# One GPU session's checks in one call: the kernels' and launchers' GPU tests (and the app under CUDA graphs against
# the default compile), the training app end to end on MNIST (KAN and its MLP twin, the default GPU path: compiled,
# CUDA graphs for these tiny models), the app's step against the bare step in one process (bench/app_step.py, same
# path, with --profile) on MNIST and on synthetic CIFAR-shaped data under the CIFAR-10 experiment's augmentation
# (AutoAugment + erasing, compiled inside the loader), the compiled forward's logits against eager ones and against
# nearby models (bench/logit_gap.py: what the app's compiled-path check must tell apart), and the training-step
# benchmark at the app's shapes (eager, default compile, CUDA graphs), with the KAN model at the matched hidden width
# 77 (kan_hidden_multiple=1) beside the default 80.
#   VKAN_DATA_DIR=<folder with mnist/> bash bench/gpu_check.sh OUT_DIR [EPOCHS]
set -uo pipefail
out=${1:-bench/out}; epochs=${2:-3}
mkdir -p "$out"
python3 -m pytest -q -p no:cacheprovider tests/test_fused.py tests/test_launch.py tests/test_bench.py tests/test_train.py \
  -k "gpu or compiles or launch or layer_rounds or graph" 2>&1 | tail -15 | tee "$out/gpu_tests.txt"
for model in vit_kan vit; do
  python3 train.py model=$model data=mnist trainer.epochs=$epochs logger=none trainer.progress_bar=false \
    hydra.run.dir=/tmp/vkan_runs/$model 2>&1 | tail -8 | tee "$out/${model}_train.log"
  cp /tmp/vkan_runs/$model/metrics.csv "$out/${model}_metrics.csv"
  python3 bench/app_step.py model=$model data=mnist --steps 100 --rounds 5 --profile 20 --json "$out/app_${model}.json" 2>&1 | tail -11
  python3 bench/app_step.py model=$model data=synthetic augment=autoaugment --steps 100 --rounds 3 \
    --json "$out/app_${model}_autoaugment.json" 2>&1 | tail -6
  python3 bench/logit_gap.py model=$model data=mnist data.val_split=holdout --stages 60 --later 1 10 \
    --mode reduce-overhead --json "$out/logit_gap_${model}.json" 2>&1 | grep "^|"
done
python3 -m vkan.bench --skip-layers --models mnist28 --rounds 3 --no-reference --compile-modes default,reduce-overhead \
  --variants kan_hidden_multiple=1 --json "$out/models.json" 2>&1 | tail -16
