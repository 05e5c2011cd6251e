S=/tmp/site; [ -d $S/hydra ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $S .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 WANDB_MODE=disabled VKAN_COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo 0fcc608)
nvidia-smi --query-gpu=name,clocks.max.sm --format=csv,noheader > $OUT/gpu.txt
timeout 200 python -m vkan.bench --skip-layers --models small224 --rounds 3 --no-reference --no-eager --compile-modes reduce-overhead --variants kernel_path=auto-keep --json $OUT/call1_small_autokeep.json > $OUT/call1_small_autokeep.txt 2>&1
timeout 250 python -m vkan.bench --skip-layers --models tiny32 --rounds 3 --no-reference --no-eager --compile-modes reduce-overhead --variants kernel_path=auto-keep kernel_path=gemm-keep --json $OUT/call1_tiny_keep.json > $OUT/call1_tiny_keep.txt 2>&1
tail -5 $OUT/*.txt
