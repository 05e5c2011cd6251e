T0=$(date +%s)
S=/tmp/site; [ -d $S/hydra ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $S .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 WANDB_MODE=disabled VKAN_COMMIT=$(cat .whl/commit)
export TORCHINDUCTOR_FX_GRAPH_CACHE=0 TORCHINDUCTOR_AUTOGRAD_CACHE=0
O=/tmp/o9; mkdir -p $O; cp .whl/call9.sh .whl/exp_dwt.py $O/
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > $O/gpu.txt; echo "commit $VKAN_COMMIT" >> $O/gpu.txt
timeout 500 python3 .whl/exp_dwt.py > $O/exp_dwt.txt 2>&1; echo "rc=$? $(( $(date +%s)-T0 ))s" >> $O/exp_dwt.txt
tail -8 $O/exp_dwt.txt
tar czf $OUT/call9.tgz -C /tmp o9
