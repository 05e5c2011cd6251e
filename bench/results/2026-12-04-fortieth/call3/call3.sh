T0=$(date +%s)
S=/tmp/site; [ -d $S/hydra ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $S .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 WANDB_MODE=disabled VKAN_COMMIT=$(cat .whl/commit)
export TORCHINDUCTOR_FX_GRAPH_CACHE=0 TORCHINDUCTOR_AUTOGRAD_CACHE=0
O=/tmp/o3; mkdir -p $O; cp .whl/call3.sh $O/
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > $O/gpu.txt
timeout 170 python3 -m pytest -q -p no:cacheprovider tests/test_fused.py -k "pieces or held or bf16_autocast or compiles or custom_op or keep" > $O/pytest.txt 2>&1; echo "rc=$? $(( $(date +%s)-T0 ))s" >> $O/pytest.txt
for s in "33280 192 80" "25216 384 160"; do
  f=$O/shipped_${s// /x}.txt
  timeout 60 python3 bench/kernel_breakdown.py $s 0 --graph > $f 2>&1; echo "rc=$? $(( $(date +%s)-T0 ))s" >> $f
done
L=$(( 570 - ($(date +%s)-T0) ))
timeout $L python3 -m vkan.bench --skip-layers --models tiny32 --rounds 3 --no-reference --no-eager --compile-modes reduce-overhead --variants kernel_path=auto-keep --json $O/tiny32.json > $O/tiny32.txt 2>&1; echo "rc=$? $(( $(date +%s)-T0 ))s" >> $O/tiny32.txt
tar czf $OUT/call3.tgz -C /tmp o3
tail -4 $O/pytest.txt; grep -h "##\|uniform=True fwd\|uniform=True dw\|unpack\|rc=" $O/shipped_*.txt; tail -25 $O/tiny32.txt
