T0=$(date +%s)
S=/tmp/site; [ -d $S/hydra ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $S .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 WANDB_MODE=disabled VKAN_COMMIT=$(cat .whl/commit)
O=/tmp/o1; mkdir -p $O; cp .whl/call1.sh $O/
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > $O/gpu.txt
for s in "33280 192 80" "25216 384 160"; do
  f=$O/streams_${s// /x}.txt
  timeout 200 python3 bench/backward_streams.py $s > $f 2>&1; echo "rc=$? $(( $(date +%s)-T0 ))s" >> $f
done
tar czf $OUT/call1.tgz -C /tmp o1
cat $O/streams_*.txt
