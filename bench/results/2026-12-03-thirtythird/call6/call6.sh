S=/tmp/site; [ -d $S/hydra ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $S .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 WANDB_MODE=disabled VKAN_COMMIT=84b1a74
mkdir -p /tmp/o6; T0=$(date +%s)
timeout 270 python3 bench/app_speed.py --vary model=vit_kan,vit --vary trainer.graph_ffn=false,auto --rounds 2 --out /tmp/o6/runs --json /tmp/o6/app_speed_small224.json -- data=synthetic data.img_size=224 data.model_suffix=patch16_224 model.size=small data.n_train=12800 data.n_test=1280 trainer.batch_size=128 trainer.compile=false trainer.epochs=3 trainer.score_test=false > /tmp/o6/app_speed_small224.txt 2>&1
echo "app_speed rc=$? $(($(date +%s)-T0)) s" >> /tmp/o6/times.txt
tar czf $OUT/call6.tgz --exclude='*.pt' -C /tmp o6
cat /tmp/o6/times.txt; grep "^|\|^#" /tmp/o6/app_speed_small224.txt
