S=/tmp/site; [ -d $S/hydra ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $S .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 WANDB_MODE=disabled VKAN_COMMIT=1378f1e
timeout 290 python -m vkan.bench --skip-layers --models tiny32 --rounds 3 --no-reference --no-eager --compile-modes reduce-overhead --variants kernel_path=auto-keep kernel_path=gemm-keep --json $OUT/call4_tiny.json > $OUT/call4_tiny.txt 2>&1
grep -h "^| vit" $OUT/*.txt
