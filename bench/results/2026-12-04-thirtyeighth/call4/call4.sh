S=/tmp/site; [ -d $S/hydra ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $S .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 WANDB_MODE=disabled VKAN_COMMIT=$(cat .whl/commit) VKAN_DATA_DIR=/tmp/data
mkdir -p /tmp/data /tmp/o4 && cp -r .data/* /tmp/data/; T0=$(date +%s)
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > /tmp/o4/gpu.txt
timeout 150 python3 -m pytest -q tests/test_fused.py -m gpu -k "pack or unpack or gemm or keep or compile or custom_op" -p no:cacheprovider > /tmp/o4/pytest_fused.txt 2>&1; echo "pytest rc=$? $(($(date +%s)-T0)) s" >> /tmp/o4/times.txt
for m in small224 tiny32; do
timeout $((560-($(date +%s)-T0))) python3 -m vkan.bench --skip-layers --models $m --rounds 3 --no-reference --no-eager --compile-modes reduce-overhead --variants kernel_path=auto-keep --json /tmp/o4/$m.json > /tmp/o4/$m.txt 2>&1; echo "$m rc=$? $(($(date +%s)-T0)) s" >> /tmp/o4/times.txt
done
tar czf $OUT/call4.tgz -C /tmp o4
cat /tmp/o4/times.txt; tail -2 /tmp/o4/pytest_fused.txt; grep -h "^| vit" /tmp/o4/small224.txt /tmp/o4/tiny32.txt
