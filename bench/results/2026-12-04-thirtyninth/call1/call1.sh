T0=$(date +%s)
S=/tmp/site; [ -d $S/hydra ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $S .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 WANDB_MODE=disabled VKAN_COMMIT=$(cat .whl/commit)
export TORCHINDUCTOR_FX_GRAPH_CACHE=0 TORCHINDUCTOR_AUTOGRAD_CACHE=0
O=/tmp/o1; mkdir -p $O; cp .whl/exp_stages.py .whl/call1.sh $O/
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > $O/gpu.txt
timeout 190 python3 bench/kernel_breakdown.py 33280 192 80 8 --graph > $O/stages_33280x192x80.txt 2>&1; echo "rc=$? $(( $(date +%s)-T0 ))s" >> $O/stages_33280x192x80.txt
timeout 230 python3 .whl/exp_stages.py tiny32 3 fwd=2 > $O/exp_stages_tiny32.txt 2>&1; echo "rc=$? $(( $(date +%s)-T0 ))s" >> $O/exp_stages_tiny32.txt
L=$(( 560 - ($(date +%s)-T0) )); [ $L -gt 30 ] && { timeout $L python3 bench/kernel_breakdown.py 33280 80 192 8 --graph > $O/stages_33280x80x192.txt 2>&1; echo "rc=$? $(( $(date +%s)-T0 ))s" >> $O/stages_33280x80x192.txt; }
tar czf $OUT/call1.tgz -C /tmp o1
tail -n 3 $O/*.txt
