S=/tmp/site; [ -d $S/hydra ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $S .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 WANDB_MODE=disabled VKAN_COMMIT=$(cat .whl/commit)
mkdir -p /tmp/o2; T0=$(date +%s)
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > /tmp/o2/gpu.txt
timeout 420 python3 bench/dx_epilogue.py --epilogues "tile dot16,tile dot32,ones reshape,ones dot16,ones dot16 no base" > /tmp/o2/dx_epilogue.txt 2>&1; echo "dx_epilogue rc=$? $(($(date +%s)-T0)) s" >> /tmp/o2/times.txt
tar czf $OUT/call2.tgz -C /tmp o2
cat /tmp/o2/times.txt; cat /tmp/o2/dx_epilogue.txt | cut -c1-200
