S=/tmp/site; [ -d $S/hydra ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $S .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 WANDB_MODE=disabled VKAN_COMMIT=e6af785
python bench/row_kernels.py --products --tuned --shapes 25216x384x160,12608x768x304,25216x160x384 2>&1 | grep -v "^MLP\|row blocks" | tee $OUT/call2_products_dA.txt
