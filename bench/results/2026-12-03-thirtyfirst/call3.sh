S=/tmp/site; [ -d $S/hydra ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $S .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 WANDB_MODE=disabled VKAN_COMMIT=d7043f8
timeout 150 python -m pytest -q tests/test_fused.py -m gpu -k "gemm or compile or custom_op or keep" 2>&1 | tail -4 | tee $OUT/call3_pytest.txt
python bench/row_kernels.py --products --shapes 25216x384x160,25216x160x384,33280x80x192,12608x768x304 2>&1 | grep -v "^MLP\|row blocks (bmm)" | tee $OUT/call3_products.txt
timeout 280 python -m vkan.bench --skip-layers --models small224 --rounds 3 --no-reference --no-eager --compile-modes reduce-overhead --variants kernel_path=auto-keep --json $OUT/call3_small.json > $OUT/call3_small.txt 2>&1; grep -h '^| vit' $OUT/call3_small.txt
