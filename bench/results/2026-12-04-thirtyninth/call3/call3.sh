T0=$(date +%s)
S=/tmp/site; [ -d $S/hydra ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $S .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 WANDB_MODE=disabled
export TORCHINDUCTOR_FX_GRAPH_CACHE=0 TORCHINDUCTOR_AUTOGRAD_CACHE=0
O=/tmp/o3; mkdir -p $O; cp .whl/call3.sh .whl/exp_rows.py $O/
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > $O/gpu.txt
timeout 170 python3 -m pytest -q -p no:cacheprovider tests/test_fused.py -k "held or bf16_autocast or compiles or custom_op or keep" > $O/pytest.txt 2>&1; echo "rc=$? $(( $(date +%s)-T0 ))s" >> $O/pytest.txt
L=$(( 575 - ($(date +%s)-T0) )); timeout $L python3 .whl/exp_rows.py small224 3 > $O/exp_rows_small224.txt 2>&1; echo "rc=$? $(( $(date +%s)-T0 ))s" >> $O/exp_rows_small224.txt
tar czf $OUT/call3.tgz -C /tmp o3
tail -n 3 $O/pytest.txt; cat $O/exp_rows_small224.txt
