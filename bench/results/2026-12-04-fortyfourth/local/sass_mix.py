"""Offline (no GPU): the shipped held-columns input grad (kan_dx_rows_kernel) at ViT-tiny's fc1 tiles compiled for
sm_90, its SASS opcodes counted, in the whole kernel and in its row loop (the basic blocks between the loop's label and
its back branch); then dx_rows_exp's modes (also at other tiles, and at ViT-tiny's fc2), and the GEMM path's two
row kernels. Run: env -u TRITON_INTERPRET
PYTHONPATH=.:bench/results/2026-12-04-fortysecond/local:bench/results/2026-12-04-fortyfourth/local python <this>"""
import collections
import re

from sm90_probe import compile_sm90
from vkan.ops import triton_kan as tk

SIG = dict(gy_ptr="*bf16", x_ptr="*fp32", grid_ptr="*fp32", wt_ptr="*bf16", dx_ptr="*fp32", M="i32", I="i32", O="i32",
           stride_gm="i32", stride_xm="i32", stride_wo="i32", stride_dm="i32")
CONSTS = dict(Q=12, CP=8, K=3, UNIFORM=True, ACT=1, HAS_BASE=True, BM=64, BI=16, K1=64, K2=16, PRECISION="tf32")


def sass_of(fn, consts, sig=SIG, warps=4, stages=3):
    _, _, stats = compile_sm90(fn, sig, consts, warps, stages)
    lines = re.findall(r"^\s+/\*([0-9a-f]{4})\*/\s+(.*?);", stats["listing"], re.M)
    return stats, [(int(a, 16), ins) for a, ins in lines]


def opcode(ins):
    ins = re.sub(r"^@!?U?P\w+\s+", "", ins.strip())
    return ins.split()[0]


def loop_body(lines):
    """The instructions between the target of the last backward branch and that branch (the row loop)."""
    best = None
    for addr, ins in lines:
        m = re.search(r"BRA\s+(?:`\(\.L_x_\d+\)\s*)?0x([0-9a-f]+)", ins) or re.search(r"BRA .*?0x([0-9a-f]+)", ins)
        if m and int(m.group(1), 16) < addr:
            span = (int(m.group(1), 16), addr)
            if best is None or span[1] - span[0] > best[1] - best[0]:
                best = span
    return [(a, i) for a, i in lines if best and best[0] <= a <= best[1]]


def report(label, fn, consts, **kw):
    stats, lines = sass_of(fn, consts, **kw)
    body = loop_body(lines)
    print(f"== {label}: regs {stats['regs']} spill {stats['spill']} smem {stats['smem']} SASS {len(lines)}, "
          f"row loop {len(body)}")
    mix = collections.Counter(opcode(i) for _, i in body)
    print("   loop:", ", ".join(f"{k} {v}" for k, v in mix.most_common()))
    return lines, body




def modes():
    """dx_rows_exp's modes at ViT-tiny's fc1 tiles (80 outputs: 64 + 16), packed and fp32, and at ViT-S/16's (160
    outputs: 128 + 32), packed."""
    import dx_rows_exp
    for k1, k2, packs in ((64, 16, (True, False)), (128, 32, (True,))):
        for packed in packs:
            for mode in range(5):
                report(f"dx_rows_exp K1={k1} K2={k2} PACKED={packed} MODE={mode}", dx_rows_exp.kan_dx_rows_exp_kernel,
                       dict(CONSTS, K1=k1, K2=k2, PACKED=packed, MODE=mode))


def row_kernels():
    """The GEMM path's two row kernels at kan_op's tiles (packed), whole kernel (no loop)."""
    meta = dict(Q=12, CP=8, K=3, UNIFORM=True, ACT=1, HAS_BASE=True, PACKED=True)
    for bi in (32, 16):
        stats, lines = sass_of(tk.kan_dx_bases_kernel, dict(meta, BM=32, BI=bi),
                               dict(da_ptr="*bf16", x_ptr="*fp32", grid_ptr="*fp32", dx_ptr="*fp32", M="i32",
                                    I="i32", stride_dam="i32", stride_xm="i32", stride_dm="i32"), 4, 1)
        mix = collections.Counter(opcode(i) for _, i in lines)
        print(f"== dx_bases BI={bi}: regs {stats['regs']} SASS {len(lines)}:", ", ".join(
            f"{k} {v}" for k, v in mix.most_common(25)))
    stats, lines = sass_of(tk.kan_bases_kernel, dict(meta, BM=64, BI=32),
                           dict(x_ptr="*fp32", grid_ptr="*fp32", a_ptr="*bf16", M="i32", I="i32", stride_xm="i32",
                                stride_am="i32"), 4, 1)
    mix = collections.Counter(opcode(i) for _, i in lines)
    print(f"== bases BI=32: regs {stats['regs']} SASS {len(lines)}:", ", ".join(
        f"{k} {v}" for k, v in mix.most_common(25)))


def tiles():
    """Modes 3 and 4 at 128 rows and 8 warps (ViT-tiny's fc1): registers and spills."""
    import dx_rows_exp
    for mode in (3, 4):
        for k1, k2 in ((64, 16), (128, 32)):
            report(f"dx_rows_exp K1={k1} K2={k2} MODE={mode} BM=128 8 warps", dx_rows_exp.kan_dx_rows_exp_kernel,
                   dict(CONSTS, K1=k1, K2=k2, PACKED=True, MODE=mode, BM=128), warps=8)


def fc2():
    """Modes 0 and 4 at ViT-tiny's fc2 (192 outputs: 128 + 64; 80 inputs), which the shipped rule keeps on the GEMM
    path's dA product and dX-from-dA kernel."""
    import dx_rows_exp
    for mode in (0, 4):
        report(f"dx_rows_exp K1=128 K2=64 MODE={mode}", dx_rows_exp.kan_dx_rows_exp_kernel,
               dict(CONSTS, K1=128, K2=64, PACKED=True, MODE=mode))


if __name__ == "__main__":
    for packed in (True, False):
        report(f"kan_dx_rows_kernel PACKED={packed}", tk.kan_dx_rows_kernel, dict(CONSTS, PACKED=packed))
    modes()
    tiles()
    fc2()
    row_kernels()
