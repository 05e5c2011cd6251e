"""Offline sm_90 compile of dxh_kernel.py's four modes at fc1's tiles (and of kan_dx_rows_h2_kernel, mode 3 with the
shipped kernel's parameters): SASS instructions, PTX arithmetic, registers, spills, shared memory, fp16 opcodes.
Usage: env -u TRITON_INTERPRET PYTHONPATH=.:bench/results/2026-12-04-fortysecond/local python dxh_probe.py"""
from dxh_kernel import dxh_kernel, kan_dx_rows_h2_kernel
from sm90_probe import compile_sm90
from vkan.ops import kan_op

SIG = dict(gy_ptr="*bf16", x_ptr="*fp32", grid_ptr="*fp32", wt_ptr="*bf16", dx_ptr="*fp32", M="i32", I="i32",
           O="i32", stride_gm="i32", stride_xm="i32", stride_wo="i32", stride_dm="i32")
TILES = dict(Q=12, CP=8, ACT=1, BM=64, BI=16, K1=64, K2=16)


def report(label, stats):
    f16 = {op: n for op, n in stats["arith"].items() if "f16" in op}
    print(f"{label}: sass instructions {stats['sass']} regs {stats['regs']} spill {stats['spill']} smem "
          f"{stats['smem']} total arith {sum(stats['arith'].values())} f16 ops {f16}")


for mode in (0, 1, 2, 3):
    report(f"mode {mode}", compile_sm90(dxh_kernel, SIG, dict(TILES, MODE=mode))[2])
h2 = compile_sm90(kan_dx_rows_h2_kernel, SIG, dict(TILES, K=3, UNIFORM=True, HAS_BASE=True, PRECISION="tf32"))[2]
report("kan_dx_rows_h2_kernel", h2)
print("its parameters are the shipped kernel's:", kan_dx_rows_h2_kernel.arg_names == kan_op._DX_ROWS.kernel.arg_names)
