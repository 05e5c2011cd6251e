S=/tmp/site; [ -d $S/hydra ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $S .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 WANDB_MODE=disabled VKAN_COMMIT=5811310
timeout 250 python bench/graphed_ffn.py --models tiny32,small224 --rounds 3 > $OUT/call4_graphed_ffn.txt 2>&1; grep -v "^measured" $OUT/call4_graphed_ffn.txt | tail -20
