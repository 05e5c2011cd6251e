T0=$(date +%s)
S=/tmp/site; [ -d $S/hydra ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $S .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
O=/tmp/o2; mkdir -p $O; cp .whl/call2.sh $O/
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > $O/gpu.txt
for s in "25216 384 160" "25216 160 384" "12608 768 304" "33280 192 80" "33280 80 192"; do
  f=$O/rows_${s// /x}.txt
  L=$(( 570 - ($(date +%s)-T0) )); [ $L -gt 20 ] || break
  timeout $L python3 bench/kernel_breakdown.py $s 9 --graph > $f 2>&1; echo "rc=$? $(( $(date +%s)-T0 ))s" >> $f
done
tar czf $OUT/call2.tgz -C /tmp o2
grep -h "^## \|base-dot\|held\|dA = \|dX from\|rc=" $O/rows_*.txt
