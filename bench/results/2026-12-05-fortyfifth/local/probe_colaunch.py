"""Offline (no GPU): colaunch.py's three kernels against the shipped kernels they extend, compiled for sm_90 by this
machine's Triton at ViT-tiny/4's tiles (bf16, packed bases), their registers, spills, shared memory and SASS counted
(the row loop's too, for the held-columns input grad). A co-launched program's small branch must not raise the large
branch's registers or shared memory: both are the kernel's, for every program. Run: env -u TRITON_INTERPRET
PYTHONPATH=.:bench/results/2026-12-04-fortysecond/local:bench/results/2026-12-04-fortyfourth/local:bench/results/2026-12-05-fortyfifth/local
python <this>"""
import triton
import triton.language as tl

import colaunch as c
import dx_rows_exp
import sass_mix
from sass_mix import CONSTS
from sigs import (BASES_PACK_SIG, BASES_SIG, DX_BASES_SIG, DX_BASES_UNPACK_SIG, DX_ROWS_SIG, DX_ROWS_UNPACK_SIG, ROW,
                  UNPACK_SIG, ordered)
from vkan.ops import triton_kan as tk


def report(label, fn, consts, sig, **kw):
    """sass_mix.report with ``sig`` in the kernel's parameter order."""
    return sass_mix.report(label, fn, consts, sig=ordered(fn, sig), **kw)


report("kan_bases_kernel, 64 rows x 32 inputs", tk.kan_bases_kernel, dict(ROW, BM=64, BI=32), BASES_SIG, stages=1)
report("kan_bases_pack_kernel, pack 8 x 16", c.kan_bases_pack_kernel,
       dict(ROW, HAS_SCALER=True, BM=64, BI=32, PO=8, PI=16), BASES_PACK_SIG, stages=1)
report("kan_dx_bases_kernel, 32 rows x 16 inputs", tk.kan_dx_bases_kernel, dict(ROW, BM=32, BI=16), DX_BASES_SIG,
       stages=1)
report("kan_dx_bases_unpack_kernel, unpack 16 x 2", c.kan_dx_bases_unpack_kernel,
       dict(ROW, HAS_SCALER=True, BM=32, BI=16, UO=16, UI=2, SP=0), DX_BASES_UNPACK_SIG, stages=1)

ROWS = dict(CONSTS, PACKED=True)
report("kan_dx_rows_kernel (shipped)", tk.kan_dx_rows_kernel, ROWS, DX_ROWS_SIG)
report("dx_rows_exp MODE 4", dx_rows_exp.kan_dx_rows_exp_kernel, dict(ROWS, MODE=4), DX_ROWS_SIG)
for mode in (0, 4):
    for at, tile, sp in ((1, (16, 2), 0), (1, (16, 8), 0), (2, (16, 2), 0), (2, (16, 8), 0), (2, (16, 8), 8)):
        report(f"kan_dx_rows_unpack_kernel MODE {mode} AT {at}, unpack {tile[0]} x {tile[1]}"
               f"{', 8 partials a load' if sp else ''}", c.kan_dx_rows_unpack_kernel,
               dict(ROWS, HAS_SCALER=True, MODE=mode, AT=at, UO=tile[0], UI=tile[1], SP=sp), DX_ROWS_UNPACK_SIG)


@triton.jit
def flat_dx_rows_kernel(gy_ptr, x_ptr, grid_ptr, wt_ptr, dx_ptr, M, I, O, stride_gm, stride_xm, stride_wo, stride_dm,
                        Q: tl.constexpr, CP: tl.constexpr, K: tl.constexpr, UNIFORM: tl.constexpr, ACT: tl.constexpr,
                        HAS_BASE: tl.constexpr, BM: tl.constexpr, BI: tl.constexpr, K1: tl.constexpr,
                        K2: tl.constexpr, PRECISION: tl.constexpr, PACKED: tl.constexpr, MODE: tl.constexpr):
    """colaunch's held-columns program on a flat grid, its (input block, split) from one program id: the form its
    co-launching kernel had first, before it kept the two-dimensional grid."""
    pid, n_i = tl.program_id(0), tl.cdiv(I, BI)
    dx_rows_exp.dx_rows_exp_program(pid % n_i, pid // n_i, tl.num_programs(0) // n_i, gy_ptr, x_ptr, grid_ptr,
                                    wt_ptr, dx_ptr, M, I, O, stride_gm, stride_xm, stride_wo, stride_dm, Q, CP, K,
                                    UNIFORM, ACT, HAS_BASE, BM, BI, K1, K2, PRECISION, PACKED, MODE)


for mode in (0, 4):
    report(f"the held-columns program on a flat grid, MODE {mode}", flat_dx_rows_kernel, dict(ROWS, MODE=mode),
           DX_ROWS_SIG)

# the shipped unpack's loop over partials (16 outputs x 2 inputs, as at ViT-tiny): its loads and adds a pass
lines, body = report("kan_unpack_kernel, 16 x 2 (the loop over partials below)", tk.kan_unpack_kernel,
                     dict(CP=8, HAS_SCALER=True, HAS_BASE=True, BO=16, BI=2), UNPACK_SIG)
print("   loop opcodes:", ", ".join(f"{k} {v}" for k, v in
                                    sass_mix.collections.Counter(sass_mix.opcode(i) for _, i in body).most_common()))
