S=/tmp/site; [ -d $S/hydra ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $S .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 WANDB_MODE=disabled VKAN_COMMIT=01e67c4 VKAN_DATA_DIR=/tmp/data
mkdir -p /tmp/data /tmp/o4 && cp -r .data/* /tmp/data/
nvidia-smi --query-gpu=name,driver_version,memory.used --format=csv > /tmp/o4/gpu.txt
T0=$(date +%s)
left() { echo $((490-($(date +%s)-T0))); }
for m in vit_kan vit; do timeout 125 python3 bench/app_step.py model=$m data=mnist trainer.compile=false --steps 80 --rounds 5 --json /tmp/o4/app_step_mnist_$m.json > /tmp/o4/app_step_mnist_$m.txt 2>&1; echo "app_step mnist $m rc=$? $(($(date +%s)-T0)) s" >> /tmp/o4/times.txt; done
for m in vit_kan vit; do L=$(left); [ $L -gt 20 ] || break; timeout $(( L < 110 ? L : 110 )) python3 bench/app_step.py model=$m model.size=small data=synthetic data.img_size=224 data.model_suffix=patch16_224 data.n_train=3200 data.n_test=256 trainer.batch_size=128 trainer.compile=false --steps 30 --rounds 5 --json /tmp/o4/app_step_small224_$m.json > /tmp/o4/app_step_small224_$m.txt 2>&1; echo "app_step small224 $m rc=$? $(($(date +%s)-T0)) s" >> /tmp/o4/times.txt; done
tar czf $OUT/call4.tgz --exclude='*.pt' -C /tmp o4
cat /tmp/o4/times.txt; grep -h "^|\|^#" /tmp/o4/app_step_*.txt
