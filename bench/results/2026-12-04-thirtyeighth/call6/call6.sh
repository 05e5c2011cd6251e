S=/tmp/site; [ -d $S/hydra ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $S .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 WANDB_MODE=disabled
mkdir -p /tmp/o6; cp .whl/exp_pair.py /tmp/o6/
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > /tmp/o6/gpu.txt
timeout 150 python3 .whl/exp_pair.py > /tmp/o6/exp_pair.txt 2>&1; echo "rc=$?" >> /tmp/o6/exp_pair.txt
tar czf $OUT/call6.tgz -C /tmp o6
cat /tmp/o6/exp_pair.txt
