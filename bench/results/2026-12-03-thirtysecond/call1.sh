S=/tmp/site; [ -d $S/hydra ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $S .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 WANDB_MODE=disabled VKAN_COMMIT=2809913 VKAN_DATA_DIR=$PWD/.data
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $OUT/call1_gpu.txt
timeout 150 python -m pytest -q tests/test_ffn_graphs.py -m gpu 2>&1 | tail -15 | tee $OUT/call1_pytest_ffn.txt
timeout 300 python -m vkan.bench --skip-layers --models tiny32,small224,base224 --no-compile --no-reference --graph-ffn --rounds 3 --json $OUT/call1_bench.json > $OUT/call1_bench.txt 2>&1; grep -v "^measured" $OUT/call1_bench.txt | tail -30
timeout 120 python -m pytest -q tests/test_train.py -m gpu -k graph_ffn 2>&1 | tail -15 | tee $OUT/call1_pytest_train.txt
