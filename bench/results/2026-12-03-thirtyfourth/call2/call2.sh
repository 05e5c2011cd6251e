S=/tmp/site; [ -d $S/hydra ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $S .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 WANDB_MODE=disabled VKAN_COMMIT=ebf7c5a
mkdir -p /tmp/o2; T0=$(date +%s)
timeout 570 python3 bench/app_speed.py --vary model=vit_kan,vit --rounds 3 --minutes 7.5 --out /tmp/o2/runs --json /tmp/o2/app_speed_base224.json -- data=synthetic data.img_size=224 data.model_suffix=patch16_224 model.size=base data.n_train=6400 data.n_test=640 trainer.batch_size=64 trainer.compile=false trainer.epochs=3 trainer.score_test=false > /tmp/o2/app_speed_base224.txt 2>&1
echo "app_speed rc=$? $(($(date +%s)-T0)) s" >> /tmp/o2/times.txt
tar czf $OUT/call2.tgz --exclude='*.pt' -C /tmp o2
cat /tmp/o2/times.txt; grep "^|\|^#" /tmp/o2/app_speed_base224.txt
