T0=$(date +%s)
S=/tmp/site; [ -d $S/hydra ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $S .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 WANDB_MODE=disabled VKAN_COMMIT=$(cat .whl/commit)
export TORCHINDUCTOR_FX_GRAPH_CACHE=0 TORCHINDUCTOR_AUTOGRAD_CACHE=0
O=/tmp/o8; mkdir -p $O; cp .whl/call8.sh .whl/exp_nobases.py $O/
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > $O/gpu.txt
timeout 400 python3 .whl/exp_nobases.py > $O/exp_nobases.txt 2>&1; echo "rc=$? $(( $(date +%s)-T0 ))s" >> $O/exp_nobases.txt
tail -6 $O/exp_nobases.txt
tar czf $OUT/call8.tgz -C /tmp o8
