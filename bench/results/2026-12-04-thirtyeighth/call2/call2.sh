S=/tmp/site; [ -d $S/hydra ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $S .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 WANDB_MODE=disabled VKAN_COMMIT=$(cat .whl/commit) VKAN_DATA_DIR=/tmp/data
mkdir -p /tmp/data /tmp/o2 && cp -r .data/* /tmp/data/; T0=$(date +%s)
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > /tmp/o2/gpu.txt
timeout 150 python3 -m pytest -q tests/test_fused.py -m gpu -k "pack or unpack or gemm or keep or compile or custom_op" -p no:cacheprovider > /tmp/o2/pytest_fused.txt 2>&1; echo "pytest rc=$? $(($(date +%s)-T0)) s" >> /tmp/o2/times.txt
for s in "33280 192 80" "33280 80 192"; do
f=/tmp/o2/unpack_$(echo $s | tr ' ' x).txt
timeout $((300-($(date +%s)-T0))) python3 bench/kernel_breakdown.py $s 2 --graph > $f 2>&1; echo "$s rc=$? $(($(date +%s)-T0)) s" >> /tmp/o2/times.txt
done
timeout $((570-($(date +%s)-T0))) python3 -m vkan.bench --skip-layers --models small224 --rounds 3 --no-reference --no-eager --compile-modes reduce-overhead --variants kernel_path=auto-keep --json /tmp/o2/small.json > /tmp/o2/small.txt 2>&1; echo "small224 rc=$? $(($(date +%s)-T0)) s" >> /tmp/o2/times.txt
tar czf $OUT/call2.tgz -C /tmp o2
cat /tmp/o2/times.txt; tail -3 /tmp/o2/pytest_fused.txt; grep -h "^##\|shipped\|unpack" /tmp/o2/unpack_*.txt | cut -c1-200; grep "^| vit\|^|" /tmp/o2/small.txt | head -20
