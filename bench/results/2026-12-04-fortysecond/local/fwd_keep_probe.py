"""Offline sm_90 compile of f53508a's forward kernel with and without KEEP (the bases written from registers), and
of the GEMM path's bases kernel: registers, shared memory, global stores. Usage: git show
f53508a:vkan/ops/triton_kan.py > /tmp/tk_keep.py; env -u TRITON_INTERPRET
PYTHONPATH=.:bench/results/2026-12-04-fortysecond/local python fwd_keep_probe.py /tmp/tk_keep.py"""
import importlib.util
import sys

from sm90_probe import compile_sm90
from vkan.ops import triton_kan as tk

stats = compile_sm90(tk.kan_bases_kernel, dict(x_ptr="*fp32", grid_ptr="*fp32", a_ptr="*bf16", M="i32", I="i32",
                                               stride_xm="i32", stride_am="i32"),
                     dict(Q=12, CP=8, K=3, UNIFORM=True, ACT=1, HAS_BASE=True, BM=64, BI=32), stages=1)[2]
print(f"bases: regs {stats['regs']} smem {stats['smem']} stores {dict(stats['stores'])}")
spec = importlib.util.spec_from_file_location("tk_keep", sys.argv[1])
tk_keep = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tk_keep)
sig = dict(x_ptr="*fp32", grid_ptr="*fp32", w_ptr="*bf16", y_ptr="*bf16", a_ptr="*bf16", M="i32", I="i32", O="i32",
           stride_xm="i32", stride_wk="i32", stride_ym="i32", stride_am="i32")
for keep in (False, True):
    stats = compile_sm90(tk_keep.kan_fwd_kernel, sig, dict(Q=12, CP=8, K=3, UNIFORM=True, ACT=1, HAS_BASE=True,
                                                           KEEP=keep, BM=64, BN=128, N2=0, BI=16, BIB=64,
                                                           PRECISION="tf32"))[2]
    print(f"fwd_keep{int(keep)}: regs {stats['regs']} smem {stats['smem']} stores {dict(stats['stores'])}")
