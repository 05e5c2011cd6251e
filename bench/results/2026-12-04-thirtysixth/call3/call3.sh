S=/tmp/site; [ -d $S/hydra ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $S .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 WANDB_MODE=disabled VKAN_COMMIT=$(cat .whl/commit) VKAN_DATA_DIR=/tmp/data
mkdir -p /tmp/data /tmp/o3 && cp -r .data/* /tmp/data/; T0=$(date +%s)
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > /tmp/o3/gpu.txt
timeout 150 python3 -m pytest -q -p no:cacheprovider tests/test_ffn_graphs.py tests/test_train.py -m gpu -k "graph_ffn or graphed" > /tmp/o3/pytest.txt 2>&1; echo "pytest rc=$? $(($(date +%s)-T0)) s" >> /tmp/o3/times.txt
timeout $((470-($(date +%s)-T0))) python3 bench/app_speed.py --vary model=vit_kan,vit --rounds 2 --minutes 5 --out /tmp/o3/runs --json /tmp/o3/app_speed_base224.json -- data=synthetic data.img_size=224 data.model_suffix=patch16_224 model.size=base data.n_train=6400 data.n_test=640 trainer.batch_size=64 trainer.compile=false trainer.epochs=3 trainer.score_test=false > /tmp/o3/app_speed_base224.txt 2>&1; echo "app_speed rc=$? $(($(date +%s)-T0)) s" >> /tmp/o3/times.txt
tar czf $OUT/call3.tgz --exclude='*.pt' -C /tmp o3
cat /tmp/o3/times.txt; tail -3 /tmp/o3/pytest.txt; grep "^|\|^#" /tmp/o3/app_speed_base224.txt
