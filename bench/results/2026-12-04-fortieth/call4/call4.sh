T0=$(date +%s)
S=/tmp/site; [ -d $S/hydra ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $S .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 WANDB_MODE=disabled VKAN_COMMIT=$(cat .whl/commit)
O=/tmp/o4; mkdir -p $O; cp .whl/call4.sh .whl/diag40.py $O/
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > $O/gpu.txt
timeout 200 python3 -m pytest -q -p no:cacheprovider tests/test_fused.py -k "pieces or held or bf16_autocast or read_and_write or compiles or custom_op or keep" > $O/pytest.txt 2>&1; echo "rc=$? $(( $(date +%s)-T0 ))s" >> $O/pytest.txt
for k in fwd dw; do CUDA_LAUNCH_BLOCKING=1 timeout 60 python3 .whl/diag40.py $k > $O/diag40_$k.txt 2>&1; echo "rc=$? $(( $(date +%s)-T0 ))s" >> $O/diag40_$k.txt; done
tar czf $OUT/call4.tgz -C /tmp o4
tail -3 $O/pytest.txt; grep -h "FAILED" $O/pytest.txt | head; tail -n 3 $O/diag40_*.txt
