S=/tmp/site; [ -d $S/hydra ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $S .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 WANDB_MODE=disabled VKAN_COMMIT=$(cat .whl/commit) VKAN_DATA_DIR=/tmp/data
mkdir -p /tmp/data /tmp/o1 && cp -r .data/* /tmp/data/; T0=$(date +%s)
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > /tmp/o1/gpu.txt
for m in vit_kan vit; do
timeout $((440-($(date +%s)-T0))) python3 bench/app_step.py model=$m data=mnist trainer.compile=false --steps 100 --rounds 10 --json /tmp/o1/app_step_mnist_$m.json > /tmp/o1/app_step_mnist_$m.txt 2>&1; echo "$m rc=$? $(($(date +%s)-T0)) s" >> /tmp/o1/times.txt
done
tar czf $OUT/call1.tgz -C /tmp o1
cat /tmp/o1/times.txt; grep -h "^|\|^#" /tmp/o1/app_step_*.txt | cut -c1-300
