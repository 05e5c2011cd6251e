S=/tmp/site; [ -d $S/hydra ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $S .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 WANDB_MODE=disabled VKAN_COMMIT=413d9a1 VKAN_DATA_DIR=$PWD/.data
mkdir -p /tmp/o
timeout 200 python -m pytest -q tests/test_ffn_graphs.py -m gpu 2>&1 | tail -15 > /tmp/o/call3_pytest_ffn.txt; tail -1 /tmp/o/call3_pytest_ffn.txt
timeout 340 python -m pytest -q tests/test_train.py -m gpu -k "graph_ffn or grid_updates" 2>&1 | tail -15 > /tmp/o/call3_pytest_train.txt; tail -1 /tmp/o/call3_pytest_train.txt
cd /tmp/o && tar czf $OUT/call3.tgz . && cat call3_pytest_ffn.txt call3_pytest_train.txt | grep -E "passed|failed|Error|assert" | head -20
