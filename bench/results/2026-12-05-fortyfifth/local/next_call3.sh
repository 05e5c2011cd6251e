# The next device session's third call, once dx_rows_mode4.patch (forty-fourth session) and colaunch.patch (this
# session's, made on top of it) are applied and committed, where calls 1 and 2 find them faster (prepared in the
# forty-fifth session): the GPU tests of the kernels the patches touch, then vkan.bench's tiny/4 and small/16 readings
# under CUDA graphs. Before it: cp bench/results/2026-12-05-fortyfifth/local/next_call3.sh .whl/call3.sh;
# git rev-parse --short HEAD > .whl/commit. Command: bash .whl/call3.sh, with carry [".whl"].
T0=$(date +%s)
S=/tmp/site; [ -d $S/hydra ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $S .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 WANDB_MODE=disabled VKAN_COMMIT=$(cat .whl/commit)
O=$OUT/o3; mkdir -p $O; cp .whl/call3.sh $O/
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > $O/gpu.txt; echo "commit $VKAN_COMMIT" >> $O/gpu.txt
timeout 240 python3 -m pytest -q tests/test_packed_bases.py tests/test_fused.py tests/test_launch.py -k "packed or held_weight_columns or bf16_autocast or keep or auto_says_so or without_graph_break or custom_op or separate_launches or inside_their_buffers or gemm or binds" > $O/pytest.txt 2>&1; echo "rc=$? $(( $(date +%s)-T0 ))s" >> $O/pytest.txt
tail -3 $O/pytest.txt
timeout 200 python3 -m vkan.bench --skip-layers --models tiny32 --rounds 3 --no-reference --no-eager --compile-modes reduce-overhead --variants kernel_path=auto-keep --json $O/tiny32.json > $O/tiny32.txt 2>&1; echo "rc=$? $(( $(date +%s)-T0 ))s" >> $O/tiny32.txt
tail -6 $O/tiny32.txt
L=$(( 580 - ($(date +%s)-T0) ))
if [ $L -gt 100 ]; then timeout $L python3 -m vkan.bench --skip-layers --models small224 --rounds 3 --no-reference --no-eager --compile-modes reduce-overhead --variants kernel_path=auto-keep --json $O/small224.json > $O/small224.txt 2>&1; echo "rc=$? $(( $(date +%s)-T0 ))s" >> $O/small224.txt; else echo "skipped: $L s left" > $O/small224.txt; fi
tail -6 $O/small224.txt
