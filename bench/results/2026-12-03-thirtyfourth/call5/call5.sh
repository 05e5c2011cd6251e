S=/tmp/site; [ -d $S/hydra ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $S .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 WANDB_MODE=disabled VKAN_COMMIT=$(cat .whl/commit) VKAN_DATA_DIR=/tmp/data
mkdir -p /tmp/o5; T0=$(date +%s)
timeout 200 python3 -m pytest -v tests/test_ffn_graphs.py -m gpu -k "warnings" > /tmp/o5/pytest.txt 2>&1
echo "pytest rc=$? $(($(date +%s)-T0)) s" >> /tmp/o5/times.txt
tar czf $OUT/call5.tgz -C /tmp o5
cat /tmp/o5/times.txt; grep -E "PASS|FAIL|passed|failed|Error|assert" /tmp/o5/pytest.txt | head -20
