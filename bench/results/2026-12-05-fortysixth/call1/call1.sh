# The next device session's first call (prepared in the forty-fifth session, which had no device): the GPU tests at the
# commit (the forty-third session's review mends never ran on a GPU), dx_rows_exp's modes (the forty-fourth session's
# exp_dx_rows.py) and colaunch.py's launches against the shipped ones (exp_colaunch.py). Before it: cp
# bench/results/2026-12-05-fortyfifth/local/next_call1.sh .whl/call1.sh; git rev-parse --short HEAD > .whl/commit.
# Command: bash .whl/call1.sh, with carry [".whl"].
T0=$(date +%s)
S=/tmp/site; [ -d $S/hydra ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $S .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 WANDB_MODE=disabled VKAN_COMMIT=$(cat .whl/commit)
L44=bench/results/2026-12-04-fortyfourth/local L45=bench/results/2026-12-05-fortyfifth/local
O=$OUT/o1; mkdir -p $O; cp .whl/call1.sh $O/
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > $O/gpu.txt; echo "commit $VKAN_COMMIT" >> $O/gpu.txt
timeout 200 python3 -m pytest -q tests/test_packed_bases.py tests/test_fused.py -k "packed or held_weight_columns or bf16_autocast or keep or auto_says_so or without_graph_break or custom_op" > $O/pytest.txt 2>&1; echo "rc=$? $(( $(date +%s)-T0 ))s" >> $O/pytest.txt
tail -3 $O/pytest.txt
PYTHONPATH=$PYTHONPATH:$L44 timeout 200 python3 $L44/exp_dx_rows.py > $O/exp_dx_rows.txt 2>&1; echo "rc=$? $(( $(date +%s)-T0 ))s" >> $O/exp_dx_rows.txt
cat $O/exp_dx_rows.txt
L=$(( 585 - ($(date +%s)-T0) ))
PYTHONPATH=$PYTHONPATH:$L44:$L45 timeout $L python3 $L45/exp_colaunch.py > $O/exp_colaunch.txt 2>&1; echo "rc=$? $(( $(date +%s)-T0 ))s" >> $O/exp_colaunch.txt
cat $O/exp_colaunch.txt
