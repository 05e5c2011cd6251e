T0=$(date +%s)
S=/tmp/site; [ -d $S/hydra ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $S .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 WANDB_MODE=disabled VKAN_COMMIT=$(cat .whl/commit)
export TORCHINDUCTOR_FX_GRAPH_CACHE=0 TORCHINDUCTOR_AUTOGRAD_CACHE=0
O=$OUT/o1; mkdir -p $O; cp .whl/call1.sh .whl/exp_keep.py $O/
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > $O/gpu.txt; echo "commit $VKAN_COMMIT" >> $O/gpu.txt
timeout 100 python3 .whl/exp_keep.py layers > $O/exp_keep_layers.txt 2>&1; echo "rc=$? $(( $(date +%s)-T0 ))s" >> $O/exp_keep_layers.txt
cat $O/exp_keep_layers.txt
timeout 120 python3 -m pytest -q -x tests/test_fused.py tests/test_launch.py -k "keep or pieces or bf16_autocast or binds" > $O/pytest.txt 2>&1; echo "rc=$? $(( $(date +%s)-T0 ))s" >> $O/pytest.txt
tail -3 $O/pytest.txt
L=$(( 560 - ($(date +%s)-T0) ))
timeout $L python3 .whl/exp_keep.py model 3 > $O/exp_keep_model.txt 2>&1; echo "rc=$? $(( $(date +%s)-T0 ))s" >> $O/exp_keep_model.txt
tail -8 $O/exp_keep_model.txt
