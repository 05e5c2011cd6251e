S=/tmp/site; [ -d $S/hydra ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $S .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 WANDB_MODE=disabled VKAN_COMMIT=3569e4b
timeout 60 python -m pytest -q tests/test_fused.py -m gpu -k row_blocks 2>&1 | tail -2 | tee $OUT/call4_pytest.txt
timeout 120 python bench/graphed_ffn.py --models tiny32 --rounds 3 > $OUT/call4_graphed_ffn.txt 2>&1; grep -v "^measured" $OUT/call4_graphed_ffn.txt | tail -12
