# The next device session's second call (prepared in the forty-fifth session): the compiled tiny/4 step side by side,
# MLP twin, KAN as shipped, KAN with the MODE 4 input grad, KAN with colaunch.py's launches (shipped row loop, MODE 4)
# (exp_colaunch_model.py, 3 rounds). AT (1 or 2), TILE ("shipped" or e.g. 16x8) and WIDE (0 or 1): the co-launched
# unpack's form that call 1's exp_colaunch.txt found fastest (defaults 1, shipped, 0). Before it: cp
# bench/results/2026-12-05-fortyfifth/local/next_call2.sh .whl/call2.sh. Command: AT=1 TILE=shipped WIDE=0 bash
# .whl/call2.sh, carry [".whl"].
T0=$(date +%s)
S=/tmp/site; [ -d $S/hydra ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $S .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 WANDB_MODE=disabled VKAN_COMMIT=$(cat .whl/commit)
export TORCHINDUCTOR_FX_GRAPH_CACHE=0 TORCHINDUCTOR_AUTOGRAD_CACHE=0
L43=bench/results/2026-12-04-fortythird/local L44=bench/results/2026-12-04-fortyfourth/local L45=bench/results/2026-12-05-fortyfifth/local
O=$OUT/o2; mkdir -p $O; cp .whl/call2.sh $O/
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > $O/gpu.txt; echo "commit $VKAN_COMMIT AT ${AT:-1} TILE ${TILE:-shipped} WIDE ${WIDE:-0}" >> $O/gpu.txt
PYTHONPATH=$PYTHONPATH:$L43:$L44:$L45 timeout 580 python3 $L45/exp_colaunch_model.py 3 ${AT:-1} ${TILE:-shipped} ${WIDE:-0} > $O/exp_colaunch_model.txt 2>&1; echo "rc=$? $(( $(date +%s)-T0 ))s" >> $O/exp_colaunch_model.txt
tail -8 $O/exp_colaunch_model.txt
