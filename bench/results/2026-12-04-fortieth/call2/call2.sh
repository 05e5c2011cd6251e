T0=$(date +%s)
S=/tmp/site; [ -d $S/hydra ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $S .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD:$PWD/.whl PYTHONUNBUFFERED=1 WANDB_MODE=disabled VKAN_COMMIT=$(cat .whl/commit)
O=/tmp/o2; mkdir -p $O; cp .whl/call2.sh .whl/exp_expand.py $O/
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > $O/gpu.txt
for s in "33280 192 80" "25216 384 160" "33280 80 192"; do
  f=$O/expand_${s// /x}.txt
  L=$(( 400 - ($(date +%s)-T0) )); [ $L -gt 20 ] || break
  timeout $L python3 .whl/exp_expand.py $s > $f 2>&1; echo "rc=$? $(( $(date +%s)-T0 ))s" >> $f
done
tar czf $OUT/call2.tgz -C /tmp o2
cat $O/expand_*.txt
