S=/tmp/site; [ -d $S/hydra ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $S .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 WANDB_MODE=disabled VKAN_COMMIT=$(cat .whl/commit) VKAN_DATA_DIR=/tmp/data
mkdir -p /tmp/data /tmp/o1 && cp -r .data/* /tmp/data/; T0=$(date +%s)
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > /tmp/o1/gpu.txt
for s in "25216 384 160" "25216 160 384" "12608 768 304"; do
f=/tmp/o1/unpack_$(echo $s | tr ' ' x).txt
timeout $((330-($(date +%s)-T0))) python3 bench/kernel_breakdown.py $s 2 --graph > $f 2>&1; echo "$s rc=$? $(($(date +%s)-T0)) s" >> /tmp/o1/times.txt
done
timeout $((560-($(date +%s)-T0))) python3 bench/step_kernels.py --models small224 --top 80 > /tmp/o1/step_kernels_small224.txt 2>&1; echo "step_kernels rc=$? $(($(date +%s)-T0)) s" >> /tmp/o1/times.txt
tar czf $OUT/call1.tgz -C /tmp o1
cat /tmp/o1/times.txt; grep -h "^##\|shipped\|unpack" /tmp/o1/unpack_*.txt | cut -c1-200; grep "unpack\|pack\|by kind\|minus" /tmp/o1/step_kernels_small224.txt
