"""Offline sm_90 compile of rows_h2's kernels (env -u TRITON_INTERPRET PYTHONPATH=.:bench/results/2026-12-04-fortysecond/local:bench/results/2026-12-04-fortythird/local)."""
from sm90_probe import compile_sm90
import rows_h2 as r

P = "*fp32"
for mode in range(4):
    sig = dict(x_ptr=P, grid_ptr=P, a_ptr="*bf16", M="i32", I="i32", stride_xm="i32", stride_am="i32")
    _, _, s = compile_sm90(r.bases_exp_kernel, sig, dict(Q=12, CP=8, ACT=1, BM=64, BI=32, MODE=mode), 4, 1)
    print("bases mode", mode, {k: s[k] for k in ("regs", "spill", "smem", "sass", "stores")}, flush=True)
for mode in range(3):
    sig = dict(da_ptr="*bf16", x_ptr=P, grid_ptr=P, dx_ptr=P, M="i32", I="i32", stride_dam="i32", stride_xm="i32",
               stride_dm="i32")
    _, _, s = compile_sm90(r.dxb_exp_kernel, sig, dict(Q=12, CP=8, ACT=1, BM=32, BI=16, MODE=mode), 4, 1)
    print("dx_bases mode", mode, {k: s[k] for k in ("regs", "spill", "smem", "sass")}, flush=True)
