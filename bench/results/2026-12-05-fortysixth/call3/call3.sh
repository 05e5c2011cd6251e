# Forty-sixth session, call 3 (reordered for a short device budget): vkan.bench's compiled tiny/4 reading of the shipped
# kernels first, then the GPU tests of the kernels this session changed, then small/16 if time is left. LIMIT: seconds
# the call may run (default 580). Command: LIMIT=.. bash .whl/call3.sh, carry [".whl"].
T0=$(date +%s); LIMIT=${LIMIT:-580}
S=/tmp/site; [ -d $S/hydra ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $S .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 WANDB_MODE=disabled VKAN_COMMIT=$(cat .whl/commit)
O=$OUT/o3; mkdir -p $O; cp .whl/call3.sh $O/
left() { echo $(( LIMIT - ($(date +%s)-T0) )); }
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > $O/gpu.txt; echo "commit $VKAN_COMMIT" >> $O/gpu.txt
timeout $(( $(left) - 10 )) python3 -m vkan.bench --skip-layers --models tiny32 --rounds 3 --no-reference --no-eager --compile-modes reduce-overhead --variants kernel_path=auto-keep --json $O/tiny32.json > $O/tiny32.txt 2>&1; echo "rc=$? $(( $(date +%s)-T0 ))s" >> $O/tiny32.txt
tail -n 6 $O/tiny32.txt
L=$(( $(left) - 10 )); [ $L -gt 200 ] && L=200
timeout $L python3 -m pytest -q tests/test_packed_bases.py tests/test_fused.py tests/test_launch.py -k "packed or held_weight_columns or bf16_autocast or keep or auto_says_so or without_graph_break or custom_op or gemm or binds" > $O/pytest.txt 2>&1; echo "rc=$? $(( $(date +%s)-T0 ))s" >> $O/pytest.txt
tail -n 3 $O/pytest.txt
L=$(( $(left) - 10 ))
if [ $L -gt 150 ]; then timeout $L python3 -m vkan.bench --skip-layers --models small224 --rounds 3 --no-reference --no-eager --compile-modes reduce-overhead --variants kernel_path=auto-keep --json $O/small224.json > $O/small224.txt 2>&1; echo "rc=$? $(( $(date +%s)-T0 ))s" >> $O/small224.txt; else echo "skipped: $L s left" > $O/small224.txt; fi
tail -n 6 $O/small224.txt
