T0=$(date +%s)
S=/tmp/site; [ -d $S/hydra ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $S .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 WANDB_MODE=disabled VKAN_COMMIT=$(cat .whl/commit)
O=$OUT/o4; mkdir -p $O; cp .whl/call4.sh $O/
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > $O/gpu.txt; echo "commit $VKAN_COMMIT" >> $O/gpu.txt
timeout 240 python3 -m vkan.bench --skip-layers --models tiny32 --rounds 3 --no-reference --no-eager --compile-modes reduce-overhead --variants kernel_path=auto-keep --json $O/tiny32.json > $O/tiny32.txt 2>&1; echo "rc=$? $(( $(date +%s)-T0 ))s" >> $O/tiny32.txt
tail -6 $O/tiny32.txt
timeout 170 python3 -m pytest -q tests/test_packed_bases.py tests/test_fused.py -k "packed or held_weight_columns or bf16_autocast or keep or auto_says_so or without_graph_break or custom_op" > $O/pytest.txt 2>&1; echo "rc=$? $(( $(date +%s)-T0 ))s" >> $O/pytest.txt
tail -4 $O/pytest.txt
L=$(( 575 - ($(date +%s)-T0) ))
[ $L -gt 100 ] && timeout $L python3 -m vkan.bench --skip-layers --models small224 --rounds 3 --no-reference --no-eager --compile-modes reduce-overhead --variants kernel_path=auto-keep --json $O/small224.json > $O/small224.txt 2>&1; echo "rc=$? $(( $(date +%s)-T0 ))s" >> $O/small224.txt
tail -6 $O/small224.txt
