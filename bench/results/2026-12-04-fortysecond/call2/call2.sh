T0=$(date +%s)
S=/tmp/site; [ -d $S/hydra ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $S .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 WANDB_MODE=disabled VKAN_COMMIT=$(cat .whl/commit)
O=$OUT/o2; mkdir -p $O; cp .whl/call2.sh .whl/exp_blocks.py $O/
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > $O/gpu.txt; echo "commit $VKAN_COMMIT" >> $O/gpu.txt
timeout 60 python3 .whl/exp_blocks.py > $O/exp_blocks.txt 2>&1; echo "rc=$? $(( $(date +%s)-T0 ))s" >> $O/exp_blocks.txt
cat $O/exp_blocks.txt
timeout 150 python3 -m pytest -q tests/test_fused.py tests/test_kernel_compile.py -m gpu -k "auto_says_so or keep or custom_op or compile or bf16_autocast" > $O/pytest.txt 2>&1; echo "rc=$? $(( $(date +%s)-T0 ))s" >> $O/pytest.txt
tail -3 $O/pytest.txt
L=$(( 570 - ($(date +%s)-T0) ))
timeout $L python3 -m vkan.bench --skip-layers --models tiny32 --rounds 3 --no-reference --no-eager --compile-modes reduce-overhead --variants kernel_path=auto-keep --json $O/tiny32.json > $O/tiny32.txt 2>&1; echo "rc=$? $(( $(date +%s)-T0 ))s" >> $O/tiny32.txt
tail -12 $O/tiny32.txt
