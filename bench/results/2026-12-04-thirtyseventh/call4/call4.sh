S=/tmp/site; [ -d $S/hydra ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $S .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 WANDB_MODE=disabled VKAN_COMMIT=$(cat .whl/commit)
mkdir -p /tmp/o4; T0=$(date +%s)
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > /tmp/o4/gpu.txt
timeout 200 python3 -m pytest -v -p no:cacheprovider tests/test_bench.py -k dx_epilogue > /tmp/o4/pytest.txt 2>&1; echo "pytest rc=$? $(($(date +%s)-T0)) s" >> /tmp/o4/times.txt
tar czf $OUT/call4.tgz -C /tmp o4
cat /tmp/o4/times.txt; tail -5 /tmp/o4/pytest.txt
