S=/tmp/site; [ -d $S/hydra ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $S .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 WANDB_MODE=disabled VKAN_COMMIT=$(cat .whl/commit)
mkdir -p /tmp/o1; T0=$(date +%s)
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > /tmp/o1/gpu.txt
timeout 420 python3 bench/dx_epilogue.py > /tmp/o1/dx_epilogue.txt 2>&1; echo "dx_epilogue rc=$? $(($(date +%s)-T0)) s" >> /tmp/o1/times.txt
tar czf $OUT/call1.tgz -C /tmp o1
cat /tmp/o1/times.txt; cat /tmp/o1/dx_epilogue.txt | cut -c1-200
