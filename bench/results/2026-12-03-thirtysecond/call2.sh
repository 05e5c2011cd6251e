S=/tmp/site; [ -d $S/hydra ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $S .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 WANDB_MODE=disabled VKAN_COMMIT=961da71 VKAN_DATA_DIR=$PWD/.data
timeout 150 python -m pytest -q tests/test_ffn_graphs.py -m gpu 2>&1 | tail -15 | tee $OUT/call2_pytest_ffn.txt
timeout 120 python -m pytest -q tests/test_train.py -m gpu -k graph_ffn 2>&1 | tail -3 | tee $OUT/call2_pytest_train.txt
for m in vit_kan vit; do for g in false true; do
  timeout 100 python train.py model=$m data=mnist trainer.compile=false trainer.graph_ffn=$g trainer.epochs=3 logger=none trainer.progress_bar=false hydra.run.dir=/tmp/runs/$m-$g > $OUT/call2_app_$m-$g.log 2>&1
  cp /tmp/runs/$m-$g/metrics.csv $OUT/call2_app_$m-$g.metrics.csv; cp /tmp/runs/$m-$g/summary.json $OUT/call2_app_$m-$g.summary.json
  python -c "import json; s=json.load(open('/tmp/runs/$m-$g/summary.json')); print('$m graph_ffn=$g', s.get('path'), round(s.get('img_per_s', 0)), s.get('test_acc'), s.get('graph_s'))"
done; done
timeout 300 python -m vkan.bench --skip-layers --models tiny32,small224,base224 --no-compile --no-reference --graph-ffn --rounds 3 --json $OUT/call2_bench.json > $OUT/call2_bench.txt 2>&1; grep "^| vit" $OUT/call2_bench.txt
