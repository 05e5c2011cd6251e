S=/tmp/site; [ -d $S/hydra ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $S .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 WANDB_MODE=disabled VKAN_COMMIT=$(cat .whl/commit) VKAN_DATA_DIR=/tmp/data
mkdir -p /tmp/data /tmp/o5 && cp -r .data/* /tmp/data/; T0=$(date +%s)
timeout 200 python3 -m pytest -q -p no:cacheprovider tests/test_ffn_graphs.py tests/test_train.py -m gpu -k "graph_ffn or graphed" > /tmp/o5/pytest.txt 2>&1; echo "pytest rc=$? $(($(date +%s)-T0)) s" >> /tmp/o5/times.txt
timeout 150 python3 train.py model=vit_kan data=mnist data.subset=5120 trainer.compile=false trainer.epochs=1 trainer.mixup=0.8 trainer.cutmix=1.0 logger=none trainer.progress_bar=false hydra.run.dir=/tmp/o5/mixup > /tmp/o5/train_mixup.txt 2>&1; echo "train rc=$? $(($(date +%s)-T0)) s" >> /tmp/o5/times.txt
rm -rf /tmp/o5/mixup/checkpoints
tar czf $OUT/call5.tgz -C /tmp o5
cat /tmp/o5/times.txt; tail -3 /tmp/o5/pytest.txt; tail -5 /tmp/o5/train_mixup.txt; python3 -c "import json; d=json.load(open('/tmp/o5/mixup/summary.json')); print({k: d.get(k) for k in ('path','ffn_graph_replays','loss_graph_replays','final_val_acc','status')})"
