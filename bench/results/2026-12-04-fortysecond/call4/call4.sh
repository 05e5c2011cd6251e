T0=$(date +%s)
S=/tmp/site; [ -d $S/hydra ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $S .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 WANDB_MODE=disabled VKAN_COMMIT=$(cat .whl/commit)
O=$OUT/o4; mkdir -p $O /tmp/data; cp .whl/call4.sh $O/; cp -r .data/mnist /tmp/data/
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > $O/gpu.txt; echo "commit $VKAN_COMMIT" >> $O/gpu.txt
timeout 330 python3 -m vkan.bench --skip-layers --models tiny32 --rounds 3 --no-reference --no-eager --compile-modes reduce-overhead --variants kernel_path=auto-keep --json $O/tiny32.json > $O/tiny32.txt 2>&1; echo "rc=$? $(( $(date +%s)-T0 ))s" >> $O/tiny32.txt
tail -6 $O/tiny32.txt
L=$(( 560 - ($(date +%s)-T0) ))
VKAN_DATA_DIR=/tmp/data timeout $L python3 train.py model=vit_kan data=mnist trainer.epochs=1 trainer.limit_train_batches=60 trainer.limit_val_batches=5 logger=none hydra.run.dir=$O/app > $O/app.txt 2>&1; echo "rc=$? $(( $(date +%s)-T0 ))s" >> $O/app.txt
head -5 $O/app.txt; tail -5 $O/app.txt; ls $O/app
