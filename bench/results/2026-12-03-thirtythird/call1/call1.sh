S=/tmp/site; [ -d $S/hydra ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $S .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 WANDB_MODE=disabled VKAN_COMMIT=45654a4 VKAN_DATA_DIR=/tmp/data
mkdir -p /tmp/data /tmp/o1 && cp -r .data/* /tmp/data/ && ls -R /tmp/data > /tmp/o1/data.txt
nvidia-smi --query-gpu=name,driver_version,memory.used --format=csv > /tmp/o1/gpu.txt; python3 -c "import torch, triton; print(torch.__version__, triton.__version__)" >> /tmp/o1/gpu.txt
T0=$(date +%s)
timeout 330 python3 bench/app_speed.py --vary model=vit_kan,vit --vary trainer.graph_ffn=false,auto --rounds 2 --out /tmp/o1/runs --json /tmp/o1/app_speed_mnist.json -- data=mnist trainer.compile=false trainer.epochs=3 > /tmp/o1/app_speed_mnist.txt 2>&1
echo "app_speed rc=$? $(($(date +%s)-T0)) s" >> /tmp/o1/times.txt
for m in vit_kan vit; do timeout 70 python3 bench/app_step.py model=$m data=mnist trainer.compile=false --steps 30 --rounds 3 --json /tmp/o1/app_step_$m.json > /tmp/o1/app_step_$m.txt 2>&1; echo "app_step $m rc=$? $(($(date +%s)-T0)) s" >> /tmp/o1/times.txt; done
timeout $((570-($(date +%s)-T0))) python3 -m pytest -q tests/test_train.py tests/test_ffn_graphs.py -m gpu -k "graph_ffn or graphed" > /tmp/o1/pytest.txt 2>&1
echo "pytest rc=$? $(($(date +%s)-T0)) s" >> /tmp/o1/times.txt
tar czf $OUT/call1.tgz --exclude='*.pt' -C /tmp o1
cat /tmp/o1/times.txt; grep "^|" /tmp/o1/app_speed_mnist.txt; tail -3 /tmp/o1/pytest.txt
