T0=$(date +%s)
S=/tmp/site; [ -d $S/hydra ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $S .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 WANDB_MODE=disabled VKAN_COMMIT=$(cat .whl/commit)
O=/tmp/o5; mkdir -p $O; cp .whl/call5.sh $O/
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > $O/gpu.txt
for m in small224 tiny32; do
  L=$(( 470 - ($(date +%s)-T0) )); [ $L -gt 60 ] || break
  timeout $L python3 -m vkan.bench --skip-layers --models $m --rounds 3 --no-reference --no-eager --compile-modes reduce-overhead --variants kernel_path=auto-keep --json $O/$m.json > $O/$m.txt 2>&1; echo "rc=$? $(( $(date +%s)-T0 ))s" >> $O/$m.txt
done
tar czf $OUT/call5.tgz -C /tmp o5
grep -h "vs_base\|rc=" $O/*.txt | cut -c1-300
