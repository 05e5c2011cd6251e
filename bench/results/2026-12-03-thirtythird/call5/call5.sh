S=/tmp/site; [ -d $S/hydra ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $S .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 WANDB_MODE=disabled VKAN_COMMIT=69b1aa3 VKAN_DATA_DIR=/tmp/data
mkdir -p /tmp/data /tmp/o5 && cp -r .data/* /tmp/data/
nvidia-smi --query-gpu=name,driver_version,memory.used --format=csv > /tmp/o5/gpu.txt
T0=$(date +%s)
timeout 360 python3 bench/app_speed.py --vary model=vit_kan,vit --vary trainer.graph_ffn=false,auto --rounds 3 --out /tmp/o5/runs --json /tmp/o5/app_speed_mnist.json -- data=mnist trainer.compile=false trainer.epochs=3 > /tmp/o5/app_speed_mnist.txt 2>&1
echo "app_speed rc=$? $(($(date +%s)-T0)) s" >> /tmp/o5/times.txt
for m in vit_kan vit; do timeout 60 python3 bench/app_step.py model=$m data=mnist trainer.compile=false --steps 60 --rounds 5 --json /tmp/o5/app_step_mnist_$m.json > /tmp/o5/app_step_mnist_$m.txt 2>&1; echo "app_step mnist $m rc=$? $(($(date +%s)-T0)) s" >> /tmp/o5/times.txt; done
for m in vit_kan vit; do timeout 60 python3 bench/app_step.py model=$m data=synthetic augment=autoaugment +model.kwargs.tokenizer=conv trainer.compile=false --steps 60 --rounds 5 --json /tmp/o5/app_step_synth_aa_$m.json > /tmp/o5/app_step_synth_aa_$m.txt 2>&1; echo "app_step synth_aa $m rc=$? $(($(date +%s)-T0)) s" >> /tmp/o5/times.txt; done
timeout $((575-($(date +%s)-T0))) python3 -m pytest -q tests/test_train.py -m gpu -k "graph_ffn" > /tmp/o5/pytest.txt 2>&1
echo "pytest rc=$? $(($(date +%s)-T0)) s" >> /tmp/o5/times.txt
tar czf $OUT/call5.tgz --exclude='*.pt' -C /tmp o5
cat /tmp/o5/times.txt; grep "^|" /tmp/o5/app_speed_mnist.txt /tmp/o5/app_step_*.txt; tail -2 /tmp/o5/pytest.txt
