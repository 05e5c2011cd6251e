"""Offline sm_90 compile of fwd_keep_tma.py's three modes at fc1's tiles: registers, spills, shared memory, stores,
and where the TMA stores wait. Usage: env -u TRITON_INTERPRET PYTHONPATH=.:bench/results/2026-12-04-fortysecond/local
python fwd_keep_tma_probe.py"""
import re

from fwd_keep_tma import fwd_keep_kernel
from sm90_probe import compile_sm90

SIG = dict(x_ptr="*fp32", grid_ptr="*fp32", w_ptr="*bf16", y_ptr="*bf16", a_ptr="*bf16", M="i32", I="i32", O="i32",
           KT="i32", stride_xm="i32", stride_wk="i32", stride_ym="i32")
for mode in (0, 1, 2):
    _, ptx, stats = compile_sm90(fwd_keep_kernel, SIG, dict(Q=12, CP=8, ACT=1, BM=64, BN=128, BI=16, BIB=64, MODE=mode))
    waits = len(re.findall(r"cp\.async\.bulk\.wait_group", ptx))
    print(f"mode {mode}: regs {stats['regs']} spill {stats['spill']} smem {stats['smem']} stores "
          f"{dict(stats['stores'])} bulk waits {waits}")
