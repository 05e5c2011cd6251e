S=/tmp/site; [ -d $S/hydra ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $S .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 WANDB_MODE=disabled VKAN_COMMIT=ebf7c5a VKAN_DATA_DIR=/tmp/data
mkdir -p /tmp/data /tmp/o1 && cp -r .data/* /tmp/data/
nvidia-smi --query-gpu=name,driver_version,memory.used --format=csv > /tmp/o1/gpu.txt
T0=$(date +%s)
for m in vit_kan vit; do timeout 150 python3 bench/app_step.py model=$m data=mnist trainer.compile=false --steps 100 --rounds 7 --profile 30 --json /tmp/o1/app_step_mnist_$m.json > /tmp/o1/app_step_mnist_$m.txt 2>&1; echo "app_step mnist $m rc=$? $(($(date +%s)-T0)) s" >> /tmp/o1/times.txt; done
timeout $((560-($(date +%s)-T0))) python3 -m pytest -q tests/test_train.py tests/test_ffn_graphs.py tests/test_bench.py -m gpu -k "graph_ffn or graphed" > /tmp/o1/pytest.txt 2>&1
echo "pytest rc=$? $(($(date +%s)-T0)) s" >> /tmp/o1/times.txt
tar czf $OUT/call1.tgz --exclude='*.pt' -C /tmp o1
cat /tmp/o1/times.txt; grep -h "^|\|^#" /tmp/o1/app_step_*.txt; tail -3 /tmp/o1/pytest.txt
