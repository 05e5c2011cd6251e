S=/tmp/site; [ -d $S/hydra ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $S .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 WANDB_MODE=disabled VKAN_COMMIT=$(cat .whl/commit) VKAN_DATA_DIR=/tmp/data
mkdir -p /tmp/data /tmp/o2 && cp -r .data/* /tmp/data/; T0=$(date +%s)
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > /tmp/o2/gpu.txt
timeout 200 python3 -m pytest -q -p no:cacheprovider tests/test_ffn_graphs.py tests/test_train.py -m gpu -k "graph_ffn or graphed" > /tmp/o2/pytest.txt 2>&1; echo "pytest rc=$? $(($(date +%s)-T0)) s" >> /tmp/o2/times.txt
timeout $((380-($(date +%s)-T0))) python3 bench/app_step.py model=vit_kan data=mnist trainer.compile=false --steps 20 --rounds 14 --parts-off --json /tmp/o2/app_step_mnist_vit_kan.json > /tmp/o2/app_step_mnist_vit_kan.txt 2>&1; echo "kan rc=$? $(($(date +%s)-T0)) s" >> /tmp/o2/times.txt
timeout $((540-($(date +%s)-T0))) python3 bench/app_step.py model=vit data=mnist trainer.compile=false --steps 20 --rounds 14 --parts-off --json /tmp/o2/app_step_mnist_vit.json > /tmp/o2/app_step_mnist_vit.txt 2>&1; echo "mlp rc=$? $(($(date +%s)-T0)) s" >> /tmp/o2/times.txt
tar czf $OUT/call2.tgz -C /tmp o2
cat /tmp/o2/times.txt; tail -5 /tmp/o2/pytest.txt; grep -h "^|\|^#" /tmp/o2/app_step_*.txt
