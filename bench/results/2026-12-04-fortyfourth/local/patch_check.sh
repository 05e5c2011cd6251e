# dx_rows_mode4.patch checked on the CPU (forty-fourth session): a clean worktree at HEAD with the patch applied, the
# kernel tests under Triton's interpreter (fp32 path only), the offline sm_90 compile of every shipped variant, and the
# patched kernels' SASS counts beside the shipped ones (sass_mix.py). Run from the repository root with its virtual
# environment active: bash bench/results/2026-12-04-fortyfourth/local/patch_check.sh > .../patch_check.txt 2>&1
set -u
R=$PWD L=$PWD/bench/results/2026-12-04-fortyfourth/local W=/tmp/vkan_patch_check
git worktree remove --force $W 2>/dev/null; git worktree add -q --detach $W HEAD && cd $W
git apply $L/dx_rows_mode4.patch && echo "applied to $(git rev-parse --short HEAD)"
counts() {  # the row loop and the GEMM path's dX-from-dA kernel, from the checkout in $PWD
  env -u TRITON_INTERPRET PYTHONPATH=.:$R/bench/results/2026-12-04-fortysecond/local:$L python -c "
import sass_mix
from vkan.ops import triton_kan as tk
c = sass_mix.CONSTS
for label, kw in (('packed', dict(PACKED=True)), ('fp32', dict(PACKED=False)), ('ViT-S/16 tiles', dict(K1=128, K2=32, PACKED=True)),
                  ('non-uniform', dict(UNIFORM=False, PACKED=False)), ('order 1', dict(K=1, PACKED=False))):
    sass_mix.report('kan_dx_rows_kernel ' + label, tk.kan_dx_rows_kernel, dict(c, **kw))
sass_mix.row_kernels()" 2>&1 | grep '=='
}
python -c "import vkan; print('vkan from', vkan.__file__)"
echo "== patched"; counts
python -m pytest -q tests/test_fused.py tests/test_kernel_compile.py tests/test_launch.py tests/test_packed_bases.py 2>&1 | tail -1
env -u TRITON_INTERPRET PYTHONPATH=. python tests/compile_kernels_sm90.py
git checkout -q -- . && echo "== shipped (HEAD)" && counts
cd $R && git worktree remove --force $W
