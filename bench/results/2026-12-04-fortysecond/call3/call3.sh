T0=$(date +%s)
S=/tmp/site; [ -d $S/hydra ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $S .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 WANDB_MODE=disabled VKAN_COMMIT=$(cat .whl/commit)
O=$OUT/o3; mkdir -p $O; cp .whl/call3.sh .whl/exp_blocks2.py $O/
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > $O/gpu.txt; echo "commit $VKAN_COMMIT" >> $O/gpu.txt
timeout 60 python3 .whl/exp_blocks2.py > $O/exp_blocks2.txt 2>&1; echo "rc=$? $(( $(date +%s)-T0 ))s" >> $O/exp_blocks2.txt
cat $O/exp_blocks2.txt
L=$(( 330 - ($(date +%s)-T0) ))
timeout $L python3 bench/step_kernels.py --models tiny32 --paths auto-keep --top 40 > $O/step_kernels_tiny32.txt 2>&1; echo "rc=$? $(( $(date +%s)-T0 ))s" >> $O/step_kernels_tiny32.txt
grep "^##\|rc=" $O/step_kernels_tiny32.txt
