S=/tmp/site; [ -d $S/hydra ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $S .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 WANDB_MODE=disabled VKAN_COMMIT=6f7f4c3
mkdir -p /tmp/o6
timeout 480 python -m vkan.bench --skip-layers --models tiny32,small224,base224 --no-compile --no-reference --graph-ffn --variants kernel_path=auto-keep --rounds 3 --json /tmp/o6/call6_bench.json > /tmp/o6/call6_bench.txt 2>&1
VKAN_DATA_DIR=$PWD/.data timeout 150 python -m pytest -q tests/test_train.py tests/test_ffn_graphs.py -m gpu -k "graph_ffn or graphed_sublayers" 2>&1 | tail -15 > /tmp/o6/call6_pytest.txt; tail -1 /tmp/o6/call6_pytest.txt
cd /tmp/o6 && tar czf $OUT/call6.tgz . ; grep "^| vit" call6_bench.txt | cut -d'|' -f2,7,8,10,14,15
