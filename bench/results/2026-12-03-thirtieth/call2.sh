S=/tmp/site; [ -d $S/hydra ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $S .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 WANDB_MODE=disabled VKAN_COMMIT=3b10b95
nvidia-smi --query-gpu=name,clocks.max.sm --format=csv,noheader > $OUT/gpu.txt
timeout 200 python bench/kernel_breakdown.py 33280 192 80 6 --graph > $OUT/call2_bwd_sweep_33280x192x80.txt 2>&1
timeout 100 python -m pytest -q -x tests/test_fused.py -m gpu -k "bf16 or half or compile or custom_op" > $OUT/call2_pytest.txt 2>&1
timeout 240 python -m vkan.bench --skip-layers --models tiny32 --rounds 3 --no-reference --compile-modes reduce-overhead --variants kernel_path=auto-keep --json $OUT/call2_tiny.json > $OUT/call2_tiny.txt 2>&1
tail -3 $OUT/*.txt
timeout 150 python -m vkan.bench --skip-layers --models small224 --rounds 3 --no-reference --no-eager --compile-modes reduce-overhead --variants kernel_path=auto-keep --json $OUT/call2_small.json > $OUT/call2_small.txt 2>&1; tail -3 $OUT/call2_small.txt
