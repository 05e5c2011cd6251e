S=/tmp/site; [ -d $S/hydra ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $S .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 WANDB_MODE=disabled VKAN_COMMIT=1519ae0
python bench/row_kernels.py --products --shapes 25216x384x160,25216x160x384,33280x80x192,12608x768x304,12608x304x768 2>&1 | tee $OUT/call1_products.txt
