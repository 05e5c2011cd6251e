S=/tmp/site; [ -d $S/hydra ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $S .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 WANDB_MODE=disabled VKAN_COMMIT=$(cat .whl/commit) VKAN_DATA_DIR=/tmp/data
mkdir -p /tmp/data /tmp/o3 && cp -r .data/* /tmp/data/; T0=$(date +%s)
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > /tmp/o3/gpu.txt; lscpu | grep -i "model name\|^CPU(s)\|MHz" >> /tmp/o3/gpu.txt
timeout 330 python3 bench/app_speed.py --vary model=vit_kan,vit --rounds 3 --minutes 4.2 --out /tmp/o3/runs --json /tmp/o3/app_speed_mnist.json -- data=mnist trainer.compile=false trainer.epochs=3 > /tmp/o3/app_speed_mnist.txt 2>&1; echo "app_speed rc=$? $(($(date +%s)-T0)) s" >> /tmp/o3/times.txt
timeout $((520-($(date +%s)-T0))) python3 bench/app_step.py model=vit_kan data=mnist trainer.compile=false --steps 100 --rounds 4 --json /tmp/o3/app_step_mnist_vit_kan.json > /tmp/o3/app_step_mnist_vit_kan.txt 2>&1; echo "app_step rc=$? $(($(date +%s)-T0)) s" >> /tmp/o3/times.txt
tar czf $OUT/call3.tgz --exclude='*.pt' -C /tmp o3
cat /tmp/o3/times.txt /tmp/o3/gpu.txt; grep "^|\|^#" /tmp/o3/app_speed_mnist.txt; grep -h "^|\|^#" /tmp/o3/app_step_*.txt | cut -c1-300
