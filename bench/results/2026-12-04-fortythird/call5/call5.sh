T0=$(date +%s)
S=/tmp/site; [ -d $S/hydra ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $S .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 VKAN_COMMIT=$(cat .whl/commit)
O=$OUT/o5; mkdir -p $O; cp .whl/call5.sh $O/
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > $O/gpu.txt; echo "commit $VKAN_COMMIT" >> $O/gpu.txt
timeout 110 python3 bench/kernel_breakdown.py 33280 192 80 9 --graph > $O/dx_rows_tiny.txt 2>&1; echo "rc=$? $(( $(date +%s)-T0 ))s" >> $O/dx_rows_tiny.txt
grep -i "dx rows\|held\|rc=" $O/dx_rows_tiny.txt | head -40
timeout 90 python3 bench/kernel_breakdown.py 25216 384 160 9 --graph > $O/dx_rows_small.txt 2>&1; echo "rc=$? $(( $(date +%s)-T0 ))s" >> $O/dx_rows_small.txt
grep -i "dx rows\|held\|rc=" $O/dx_rows_small.txt | head -40
