T0=$(date +%s)
S=/tmp/site; [ -d $S/hydra ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $S .whl/*.whl
L=bench/results/2026-12-04-fortysecond/local
export PYTHONPATH=/tmp/site:$PWD:$PWD/$L PYTHONUNBUFFERED=1 WANDB_MODE=disabled VKAN_COMMIT=$(cat .whl/commit)
export TORCHINDUCTOR_FX_GRAPH_CACHE=0 TORCHINDUCTOR_AUTOGRAD_CACHE=0
O=$OUT/o1; mkdir -p $O; cp .whl/call1.sh $O/
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > $O/gpu.txt; echo "commit $VKAN_COMMIT" >> $O/gpu.txt
timeout 120 python3 $L/exp_dxh.py > $O/exp_dxh.txt 2>&1; echo "rc=$? $(( $(date +%s)-T0 ))s" >> $O/exp_dxh.txt
cat $O/exp_dxh.txt
timeout 120 python3 $L/exp_fwd_keep.py > $O/exp_fwd_keep.txt 2>&1; echo "rc=$? $(( $(date +%s)-T0 ))s" >> $O/exp_fwd_keep.txt
cat $O/exp_fwd_keep.txt
R=$(( 570 - ($(date +%s)-T0) ))
timeout $R python3 $L/exp_dxh_model.py 3 > $O/exp_dxh_model.txt 2>&1; echo "rc=$? $(( $(date +%s)-T0 ))s" >> $O/exp_dxh_model.txt
tail -8 $O/exp_dxh_model.txt
