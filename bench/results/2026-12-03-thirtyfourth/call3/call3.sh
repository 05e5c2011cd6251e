S=/tmp/site; [ -d $S/hydra ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $S .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 WANDB_MODE=disabled VKAN_COMMIT=01e67c4 VKAN_DATA_DIR=/tmp/data
mkdir -p /tmp/data /tmp/o3 && cp -r .data/* /tmp/data/
nvidia-smi --query-gpu=name,driver_version,memory.used --format=csv > /tmp/o3/gpu.txt
T0=$(date +%s)
for m in vit_kan vit; do timeout 220 python3 bench/app_step.py model=$m data=mnist trainer.compile=false --steps 80 --rounds 6 --profile 20 --json /tmp/o3/app_step_mnist_$m.json > /tmp/o3/app_step_mnist_$m.txt 2>&1; echo "app_step mnist $m rc=$? $(($(date +%s)-T0)) s" >> /tmp/o3/times.txt; done
timeout 90 python3 train.py model=vit_kan data=synthetic data.img_size=224 data.model_suffix=patch16_224 model.size=base data.n_train=640 data.n_test=64 trainer.batch_size=64 trainer.compile=false trainer.epochs=2 logger=none trainer.progress_bar=false paths.output_dir=/tmp/o3/run224 > /tmp/o3/train224.txt 2>&1
echo "train224 rc=$? $(($(date +%s)-T0)) s" >> /tmp/o3/times.txt
timeout $((565-($(date +%s)-T0))) python3 -m pytest -q tests/test_ffn_graphs.py tests/test_train.py tests/test_bench.py -m gpu -k "graph_ffn or graphed or warnings" > /tmp/o3/pytest.txt 2>&1
echo "pytest rc=$? $(($(date +%s)-T0)) s" >> /tmp/o3/times.txt
tar czf $OUT/call3.tgz --exclude='*.pt' -C /tmp o3
cat /tmp/o3/times.txt; grep -h "^|\|^#" /tmp/o3/app_step_*.txt; grep -c -i "warn" /tmp/o3/train224.txt; head -c 1500 /tmp/o3/train224.txt; tail -4 /tmp/o3/pytest.txt
