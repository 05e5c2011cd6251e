T0=$(date +%s)
S=/tmp/site; [ -d $S/hydra ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $S .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 WANDB_MODE=disabled VKAN_COMMIT=$(cat .whl/commit)
export TORCHINDUCTOR_FX_GRAPH_CACHE=0 TORCHINDUCTOR_AUTOGRAD_CACHE=0
O=/tmp/o4; mkdir -p $O; cp .whl/call4.sh .whl/exp_castx.py $O/
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > $O/gpu.txt
timeout 300 python3 .whl/exp_castx.py tiny32 3 > $O/exp_castx_tiny32.txt 2>&1; echo "rc=$? $(( $(date +%s)-T0 ))s" >> $O/exp_castx_tiny32.txt
tail -12 $O/exp_castx_tiny32.txt
tar czf $OUT/call4.tgz -C /tmp o4
