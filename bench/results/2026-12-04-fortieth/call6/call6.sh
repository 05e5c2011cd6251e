T0=$(date +%s)
S=/tmp/site; [ -d $S/hydra ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $S .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 WANDB_MODE=disabled VKAN_COMMIT=$(cat .whl/commit) CUDA_LAUNCH_BLOCKING=1
O=/tmp/o6; mkdir -p $O; cp .whl/call6.sh .whl/diag_pieces.py $O/
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > $O/gpu.txt
for c in "40 128 0" "40 32 16" "48 32 16" "72 64 16" "80 128 0" "80 64 16" "96 64 32" "160 128 32"; do
  timeout 40 python3 .whl/diag_pieces.py $c >> $O/diag_pieces.txt 2>&1 || echo "$c: rc=$?" >> $O/diag_pieces.txt
done
echo "$(( $(date +%s)-T0 ))s" >> $O/diag_pieces.txt
tar czf $OUT/call6.tgz -C /tmp o6
grep -v "^\s" $O/diag_pieces.txt | tail -30
