# The next device session's second call (prepared in the forty-fourth session): the compiled tiny/4 step side by side,
# MLP twin, KAN as shipped, KAN with the input grad in dx_rows_exp's modes 3 and 4, and mode 4 with fc1's weight-grad
# product over 4 row blocks (exp_dx_rows_model.py, 3 rounds). Before it: cp
# bench/results/2026-12-04-fortyfourth/local/next_call2.sh .whl/call2.sh. Command: bash .whl/call2.sh, carry [".whl"].
T0=$(date +%s)
S=/tmp/site; [ -d $S/hydra ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $S .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 WANDB_MODE=disabled VKAN_COMMIT=$(cat .whl/commit)
export TORCHINDUCTOR_FX_GRAPH_CACHE=0 TORCHINDUCTOR_AUTOGRAD_CACHE=0
L44=bench/results/2026-12-04-fortyfourth/local L43=bench/results/2026-12-04-fortythird/local
O=$OUT/o2; mkdir -p $O; cp .whl/call2.sh $O/
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > $O/gpu.txt; echo "commit $VKAN_COMMIT" >> $O/gpu.txt
PYTHONPATH=$PYTHONPATH:$L43:$L44 timeout 580 python3 $L44/exp_dx_rows_model.py 3 > $O/exp_dx_rows_model.txt 2>&1; echo "rc=$? $(( $(date +%s)-T0 ))s" >> $O/exp_dx_rows_model.txt
tail -8 $O/exp_dx_rows_model.txt
