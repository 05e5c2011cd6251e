T0=$(date +%s)
S=/tmp/site; [ -d $S/hydra ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $S .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 WANDB_MODE=disabled VKAN_COMMIT=$(cat .whl/commit)
export TORCHINDUCTOR_FX_GRAPH_CACHE=0 TORCHINDUCTOR_AUTOGRAD_CACHE=0
O=/tmp/o2; mkdir -p $O; cp .whl/call2.sh .whl/exp_streams.py $O/
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > $O/gpu.txt
timeout 300 python3 .whl/exp_streams.py tiny32 3 > $O/exp_streams_tiny32.txt 2>&1; echo "rc=$? $(( $(date +%s)-T0 ))s" >> $O/exp_streams_tiny32.txt
tail -8 $O/exp_streams_tiny32.txt
L=$(( 570 - ($(date +%s)-T0) ))
timeout $L python3 -m pytest -q -x tests/test_fused.py -m gpu -k "one_op or compile or custom_op or keep" > $O/pytest_fused.txt 2>&1; echo "rc=$? $(( $(date +%s)-T0 ))s" >> $O/pytest_fused.txt
tail -4 $O/pytest_fused.txt
tar czf $OUT/call2.tgz -C /tmp o2
