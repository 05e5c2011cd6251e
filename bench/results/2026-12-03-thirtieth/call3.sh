S=/tmp/site; [ -d $S/hydra ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $S .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 WANDB_MODE=disabled VKAN_COMMIT=1378f1e
T0=$(date +%s)
timeout 120 python bench/kernel_breakdown.py 33280 192 80 7 --graph > $OUT/call3_dx_sweep_33280x192x80.txt 2>&1
timeout 60 python bench/row_kernels.py --shapes 33280x192x80,25216x384x160 > $OUT/call3_row_kernels.txt 2>&1
timeout 200 python -m vkan.bench --skip-layers --models tiny32 --rounds 3 --no-reference --no-eager --compile-modes reduce-overhead --variants kernel_path=auto-keep kernel_path=gemm-keep --json $OUT/call3_tiny.json > $OUT/call3_tiny.txt 2>&1
left=$((540 - $(date +%s) + T0)); echo "left for base224: $left s"
timeout $left python -m vkan.bench --skip-layers --models base224 --rounds 3 --no-reference --no-eager --compile-modes reduce-overhead --variants kernel_path=auto-keep --json $OUT/call3_base.json > $OUT/call3_base.txt 2>&1
grep -h "^| vit\|shipped" $OUT/*.txt
