S=/tmp/site; [ -d $S/hydra ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $S .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 WANDB_MODE=disabled VKAN_COMMIT=$(cat .whl/commit) VKAN_DATA_DIR=/tmp/data
mkdir -p /tmp/data /tmp/o2 && cp -r .data/* /tmp/data/; T0=$(date +%s)
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > /tmp/o2/gpu.txt
for m in vit_kan vit; do
timeout $((300-($(date +%s)-T0))) python3 bench/app_step.py model=$m data=mnist trainer.compile=false --steps 100 --rounds 10 --json /tmp/o2/app_step_mnist_$m.json > /tmp/o2/app_step_mnist_$m.txt 2>&1; echo "$m rc=$? $(($(date +%s)-T0)) s" >> /tmp/o2/times.txt
done
timeout $((560-($(date +%s)-T0))) python3 -m vkan.bench --skip-layers --models small224 --rounds 3 --no-reference --no-eager --compile-modes reduce-overhead --variants kernel_path=auto-keep --json /tmp/o2/small.json > /tmp/o2/small.txt 2>&1; echo "small224 rc=$? $(($(date +%s)-T0)) s" >> /tmp/o2/times.txt
tar czf $OUT/call2.tgz -C /tmp o2
cat /tmp/o2/times.txt; grep -h "^|\|^#" /tmp/o2/app_step_*.txt | cut -c1-300; grep "^| vit" /tmp/o2/small.txt
