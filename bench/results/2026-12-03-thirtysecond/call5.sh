S=/tmp/site; [ -d $S/hydra ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $S .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 WANDB_MODE=disabled VKAN_COMMIT=3660aa0
mkdir -p /tmp/o5
timeout 480 python -m vkan.bench --skip-layers --models tiny32,small224,base224 --no-compile --no-reference --graph-ffn --variants kernel_path=fused kernel_path=auto --rounds 3 --json /tmp/o5/call5_bench.json > /tmp/o5/call5_bench.txt 2>&1
cd /tmp/o5 && tar czf $OUT/call5.tgz . ; grep "^| vit" call5_bench.txt | cut -d'|' -f2,7,8,10,14,15
