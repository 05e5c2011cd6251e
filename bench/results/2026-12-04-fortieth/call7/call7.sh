T0=$(date +%s)
S=/tmp/site; [ -d $S/hydra ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $S .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 WANDB_MODE=disabled VKAN_COMMIT=$(cat .whl/commit)
O=/tmp/o7; mkdir -p $O; cp .whl/call7.sh $O/
timeout 150 python3 -m pytest -q -p no:cacheprovider tests/test_fused.py tests/test_launch.py -k "pieces or weight_grad_tiles" > $O/pytest.txt 2>&1; echo "rc=$? $(( $(date +%s)-T0 ))s" >> $O/pytest.txt
tar czf $OUT/call7.tgz -C /tmp o7
tail -3 $O/pytest.txt
