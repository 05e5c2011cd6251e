# Checks colaunch.patch offline (forty-fifth session; patch_check.txt): a clean clone of the commit with
# dx_rows_mode4.patch (forty-fourth session) and colaunch.patch applied in turn; the whole test suite on the CPU, the
# sm_90 compile of every kernel variant, and the shipped kernels' SASS before and after colaunch.patch
# (refactor_sass.py); each step's exit status. Run from the repository root: VKAN_DATA_DIR=<data> bash <this>
set -o pipefail
R=$(pwd) W=/tmp/colaunch_check
rm -rf $W && git clone -q "$R" $W && cd $W || exit 1
git apply "$R/bench/results/2026-12-04-fortyfourth/local/dx_rows_mode4.patch" || exit 1
cp vkan/ops/triton_kan.py /tmp/triton_kan_mode4.py
git apply "$R/bench/results/2026-12-05-fortyfifth/local/colaunch.patch" || exit 1
git -C $W diff --stat
PYTHONPATH=$W "$R/.venv/bin/python" -m pytest -q -p no:cacheprovider 2>&1 | tail -2; echo "tests: rc=$?"
env -u TRITON_INTERPRET PYTHONPATH=$W "$R/.venv/bin/python" tests/compile_kernels_sm90.py; echo "compile: rc=$?"
env -u TRITON_INTERPRET PYTHONPATH=$W:$R/bench/results/2026-12-04-fortysecond/local "$R/.venv/bin/python" \
    "$R/bench/results/2026-12-05-fortyfifth/local/refactor_sass.py" /tmp/triton_kan_mode4.py; echo "SASS: rc=$?"
