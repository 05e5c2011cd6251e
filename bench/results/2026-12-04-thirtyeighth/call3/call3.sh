S=/tmp/site; [ -d $S/hydra ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $S .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 WANDB_MODE=disabled VKAN_COMMIT=$(cat .whl/commit) VKAN_DATA_DIR=/tmp/data
mkdir -p /tmp/data /tmp/o3 && cp -r .data/* /tmp/data/; T0=$(date +%s)
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > /tmp/o3/gpu.txt
cp .whl/exp_cache.py /tmp/o3/
timeout 150 python3 .whl/exp_cache.py > /tmp/o3/exp_cache.txt 2>&1; echo "exp rc=$? $(($(date +%s)-T0)) s" >> /tmp/o3/times.txt
for m in small224 base224; do
timeout $((575-($(date +%s)-T0))) python3 -m vkan.bench --skip-layers --models $m --rounds 3 --no-reference --no-eager --compile-modes reduce-overhead --variants kernel_path=auto-keep --json /tmp/o3/$m.json > /tmp/o3/$m.txt 2>&1; echo "$m rc=$? $(($(date +%s)-T0)) s" >> /tmp/o3/times.txt
done
tar czf $OUT/call3.tgz -C /tmp o3
cat /tmp/o3/times.txt; cat /tmp/o3/exp_cache.txt | tail -25; grep -h "^| vit" /tmp/o3/small224.txt /tmp/o3/base224.txt
