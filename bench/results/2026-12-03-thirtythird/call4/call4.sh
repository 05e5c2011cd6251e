S=/tmp/site; [ -d $S/hydra ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $S .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 WANDB_MODE=disabled VKAN_COMMIT=45654a4 VKAN_DATA_DIR=/tmp/data
mkdir -p /tmp/data/cifar10 /tmp/o4 && cp .ext/d4/cifar10/* /tmp/data/cifar10/ && ls -la /tmp/data/cifar10 > /tmp/o4/data.txt
T0=$(date +%s)
timeout 540 python3 bench/app_speed.py --vary model=vit_kan,vit --vary trainer.graph_ffn=false,auto --rounds 2 --out /tmp/o4/runs --json /tmp/o4/app_speed_cifar10.json -- experiment=cifar10 trainer.compile=false trainer.epochs=3 trainer.score_test=false > /tmp/o4/app_speed_cifar10.txt 2>&1
echo "app_speed rc=$? $(($(date +%s)-T0)) s" >> /tmp/o4/times.txt
tar czf $OUT/call4.tgz --exclude='*.pt' -C /tmp o4
cat /tmp/o4/times.txt /tmp/o4/data.txt; grep "^|\|^#" /tmp/o4/app_speed_cifar10.txt
