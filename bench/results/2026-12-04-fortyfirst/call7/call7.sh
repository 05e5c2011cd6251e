T0=$(date +%s)
S=/tmp/site; [ -d $S/hydra ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $S .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 WANDB_MODE=disabled VKAN_COMMIT=$(cat .whl/commit)
O=/tmp/o7; mkdir -p $O; cp .whl/call7.sh $O/
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > $O/gpu.txt; echo "commit $VKAN_COMMIT" >> $O/gpu.txt
for s in "" "25216 384 160"; do
  f=$O/streams_${s// /x}.txt; [ -n "$s" ] || f=$O/streams_default.txt
  timeout 200 python3 bench/backward_streams.py $s > $f 2>&1; echo "rc=$? $(( $(date +%s)-T0 ))s" >> $f
done
python3 bench/backward_streams.py 1 2 > $O/streams_badshape.txt 2>&1; echo "rc=$?" >> $O/streams_badshape.txt
tar czf $OUT/call7.tgz -C /tmp o7
cat $O/streams_*.txt
