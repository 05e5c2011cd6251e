S=/tmp/site; [ -d $S/hydra ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $S .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 WANDB_MODE=disabled VKAN_COMMIT=$(cat .whl/commit) VKAN_DATA_DIR=/tmp/data
mkdir -p /tmp/o5; T0=$(date +%s)
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > /tmp/o5/gpu.txt
timeout 330 python3 -m vkan.bench --skip-layers --models small224 --rounds 5 --no-reference --no-eager --compile-modes reduce-overhead --variants kernel_path=auto-keep --json /tmp/o5/small224.json > /tmp/o5/small224.txt 2>&1; echo "small224 rc=$? $(($(date +%s)-T0)) s" >> /tmp/o5/times.txt
tar czf $OUT/call5.tgz -C /tmp o5
cat /tmp/o5/times.txt; grep -h "^| vit" /tmp/o5/small224.txt
