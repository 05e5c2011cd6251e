S=/tmp/site; [ -d $S/hydra ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $S .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 WANDB_MODE=disabled VKAN_COMMIT=$(cat .whl/commit) VKAN_DATA_DIR=/tmp/data
mkdir -p /tmp/o4; T0=$(date +%s)
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > /tmp/o4/gpu.txt
for size in small:128 base:64; do s=${size%:*}; b=${size#*:}; for m in vit_kan vit; do
  timeout $((500-($(date +%s)-T0))) python3 bench/app_step.py model=$m model.size=$s data=synthetic data.img_size=224 data.model_suffix=patch16_224 data.n_train=3200 data.n_test=256 trainer.batch_size=$b trainer.compile=false --steps 20 --rounds 16 --json /tmp/o4/app_step_${s}224_$m.json > /tmp/o4/app_step_${s}224_$m.txt 2>&1; echo "$s $m rc=$? $(($(date +%s)-T0)) s" >> /tmp/o4/times.txt
done; done
tar czf $OUT/call4.tgz -C /tmp o4
cat /tmp/o4/times.txt; grep -h "^|\|^#" /tmp/o4/app_step_*.txt
