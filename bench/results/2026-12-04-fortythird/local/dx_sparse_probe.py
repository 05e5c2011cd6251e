"""Offline sm_90 compile of dx_sparse_kernel at ViT-tiny's fc1 launch (64 rows, 16 inputs, 64 + 16 outputs, 4 warps, 3
stages): SASS instructions, registers, shared memory, barriers. env -u TRITON_INTERPRET
PYTHONPATH=.:bench/results/2026-12-04-fortysecond/local:bench/results/2026-12-04-fortythird/local python dx_sparse_probe.py"""
import re

from sm90_probe import compile_sm90
from dx_sparse import dx_sparse_kernel

P = "*fp32"
sig = dict(gy_ptr="*bf16", x_ptr=P, grid_ptr=P, wt_ptr="*bf16", dx_ptr=P, M="i32", I="i32", O="i32", stride_gm="i32",
           stride_xm="i32", stride_wo="i32", stride_dm="i32")
for packed, sparse in ((False, 0), (True, 0), (False, 1)):
    consts = dict(Q=12, CP=8, K=3, UNIFORM=True, ACT=1, HAS_BASE=True, BM=64, BI=16, K1=64, K2=16, PRECISION="tf32",
                  PACKED=packed, SPARSE=sparse)
    _, ptx, s = compile_sm90(dx_sparse_kernel, sig, consts, 4, 3)
    print(f"packed {packed} sparse {sparse}: sass {s['sass']} regs {s['regs']} spill {s['spill']} smem {s['smem']} "
          f"bar.sync {len(re.findall(r'bar.sync', ptx))} shfl {len(re.findall(r'shfl', ptx))} "
          f"st.shared {len(re.findall(r'st.shared', ptx))} ld.shared {len(re.findall(r'ld.shared', ptx))}", flush=True)
