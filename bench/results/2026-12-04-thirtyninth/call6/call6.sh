T0=$(date +%s)
S=/tmp/site; [ -d $S/hydra ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $S .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 WANDB_MODE=disabled
O=/tmp/o6; mkdir -p $O; cp .whl/call6.sh $O/
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > $O/gpu.txt
timeout 200 python3 -m pytest -q -p no:cacheprovider tests/test_fused.py -k "held or bf16_autocast or nonuniform or half_precision" > $O/pytest.txt 2>&1; echo "rc=$? $(( $(date +%s)-T0 ))s" >> $O/pytest.txt
tar czf $OUT/call6.tgz -C /tmp o6
tail -n 3 $O/pytest.txt
