T0=$(date +%s)
S=/tmp/site; [ -d $S/hydra ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $S .whl/*.whl
L=bench/results/2026-12-04-fortythird/local
export PYTHONPATH=/tmp/site:$PWD:$PWD/bench/results/2026-12-04-fortysecond/local:$PWD/$L PYTHONUNBUFFERED=1 WANDB_MODE=disabled VKAN_COMMIT=$(cat .whl/commit)
export TORCHINDUCTOR_FX_GRAPH_CACHE=0 TORCHINDUCTOR_AUTOGRAD_CACHE=0
O=$OUT/o3; mkdir -p $O; cp .whl/call3.sh $O/
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > $O/gpu.txt; echo "commit $VKAN_COMMIT" >> $O/gpu.txt
R=$(( 585 - ($(date +%s)-T0) ))
timeout $R python3 $L/exp_model.py 3 > $O/exp_model.txt 2>&1; echo "rc=$? $(( $(date +%s)-T0 ))s" >> $O/exp_model.txt
tail -12 $O/exp_model.txt
