"""Times each fused kernel (pack, forward, input grad, weight grad, unpack) of one KANLinear shape, and
optionally a few tile configurations, to show where the time goes and which tiles to ship.

    PYTHONPATH=. python bench/kernel_breakdown.py [M IN OUT [SWEEP=1|0|2]]   # 2: unpack tiles only
"""
import itertools
import sys

import torch
import triton

from vkan import KANLinear
from vkan.bench import triton_time_ms
from vkan.ops import kan_op
from vkan.ops import triton_kan as tk


def bench(fn):
    return triton_time_ms(fn, rep_ms=100)


def main(m=16640, n_in=192, n_out=768, sweep=1):
    layer = KANLinear(n_in, n_out).cuda()
    sw, sc, bw = layer.spline_weight.detach(), layer.spline_scaler.detach(), layer.base_weight.detach()
    x = torch.randn(m, n_in, device="cuda")
    w, wt, cp = kan_op._pack(sw, sc, bw, torch.bfloat16)
    kt = w.shape[0]
    grid = layer.grid
    gy = torch.randn(m, n_out, device="cuda", dtype=torch.bfloat16)
    y = torch.empty(m, n_out, device="cuda", dtype=torch.bfloat16)
    dx = torch.empty_like(x)
    gf = 2 * m * n_in * (layer.n_coef + 1) * n_out / 1e9  # spline + base multiply-adds
    print(f"## {m}x{n_in}->{n_out}: shipped launchers (TFLOP/s counts spline + base matmuls)")
    part = kan_op._launch_dw(gy, x, grid, kt, cp, 3, True, 1, True)
    print(f"pack: {bench(lambda: kan_op._pack(sw, sc, bw, torch.bfloat16)):.3f} ms")
    print(f"unpack (split {part.shape[0]}): {bench(lambda: kan_op._unpack(part, sw, sc, bw, cp)):.3f} ms")
    for uniform in (True, False):
        for name, fn in [("fwd", lambda: kan_op._launch_fwd(x, grid, w, cp, 3, uniform, 1, True)),
                         ("dx (separate base programs)", lambda: kan_op._launch_dx(gy, x, grid, wt, cp, 3, uniform, 1, True,
                                                                                   base_dot=False)),
                         ("dx (base-dot variant)", lambda: kan_op._launch_dx(gy, x, grid, wt, cp, 3, uniform, 1, True,
                                                                             base_dot=True)),
                         ("dw", lambda: kan_op._launch_dw(gy, x, grid, kt, cp, 3, uniform, 1, True))]:
            ms = bench(fn)
            print(f"uniform={uniform} {name}: {ms:.3f} ms, {gf / ms:.0f} TFLOP/s")
    a = torch.randn(m, n_in * (layer.n_coef + 1), device="cuda", dtype=torch.bfloat16)
    b = torch.randn(n_in * (layer.n_coef + 1), n_out, device="cuda", dtype=torch.bfloat16)
    print(f"cuBLAS on materialised bases: {bench(lambda: a @ b):.3f} ms")
    if not sweep:
        return
    print(f"## unpack tiles (split {part.shape[0]}): BO rows-per-program partials-per-load -> ms")
    n_split = part.shape[0]
    dsw, dsc, db = torch.empty_like(sw), torch.empty_like(sc), torch.empty_like(bw)
    for bo, rows, sb in itertools.product((16, 32), (16, 32), (1, 4, 32)):
        bi = max(1, rows // cp)
        if sb > max(1, 1 << (n_split - 1).bit_length()) or bo * bi * cp * sb > 16384:
            continue
        ms = bench(lambda: tk.kan_unpack_kernel[(triton.cdiv(n_out, bo), triton.cdiv(n_in, bi))](
            part, sw, sc, dsw, dsc, db, n_in, n_out, layer.n_coef, n_split, part.stride(0), CP=cp, HAS_SCALER=True,
            HAS_BASE=True, BO=bo, BI=bi, SB=sb, num_warps=4))
        print(f"unpack {bo} {bi * cp} {sb}: {ms:.3f}")
    if sweep == 2:  # unpack tiles only
        return
    meta = dict(Q=grid.shape[1], CP=cp, K=3, UNIFORM=True, ACT=1, PRECISION="tf32", num_stages=3)
    bns = (64, 128) if n_out <= 128 else (128, 256)  # output tiles that fit the layer's width
    print("## forward tiles (uniform): BM BN BK warps -> ms")
    for bm, bn, bk, warps in itertools.product((64, 128), bns, (64, 128), (4, 8)):
        try:
            ms = bench(lambda: tk.kan_fwd_kernel[(triton.cdiv(m, bm), triton.cdiv(n_out, bn))](
                x, grid, w, y, m, n_in, n_out, x.stride(0), w.stride(0), y.stride(0), HAS_BASE=True, BM=bm, BN=bn,
                BI=bk // cp, BIB=64, num_warps=warps, **meta))
            print(f"fwd {bm} {bn} {bk} {warps}: {ms:.3f}")
        except Exception as e:  # out of shared memory / registers
            print(f"fwd {bm} {bn} {bk} {warps}: failed {type(e).__name__}")
    print("## input-grad tiles (uniform): BM BO BK warps -> ms")
    for bm, bo, bk, warps in itertools.product((64, 128), (32, 64), (128, 256), (4, 8)):
        try:
            ms = bench(lambda: tk.kan_dx_kernel[(triton.cdiv(m, bm) * triton.cdiv(n_in, bk // cp),)](
                gy, x, grid, wt, dx, m, n_in, n_out, triton.cdiv(n_in, bk // cp), gy.stride(0), x.stride(0),
                wt.stride(0), dx.stride(0), HAS_BASE=True, BASE_DOT=True, BM=bm, BO=bo, BI=bk // cp, BIB=64,
                num_warps=warps, **meta))
            print(f"dx {bm} {bo} {bk} {warps}: {ms:.3f}")
        except Exception as e:
            print(f"dx {bm} {bo} {bk} {warps}: failed {type(e).__name__}")
    print("## weight-grad tiles (uniform): BM BN BK warps split -> ms")
    for bm, bn, bk, warps, split in itertools.product((64,), bns, (64, 128), (4, 8), (8, 32)):
        nsb = triton.cdiv(n_in, bk // cp)
        blocks = nsb + triton.cdiv(n_in, 64)
        part = torch.empty((split, kt, n_out), device="cuda")
        try:
            ms = bench(lambda: tk.kan_dw_kernel[(blocks, triton.cdiv(n_out, bn), split)](
                gy, x, grid, part, m, n_in, n_out, nsb, gy.stride(0), x.stride(0), part.stride(1), part.stride(0),
                BM=bm, BN=bn, BI=bk // cp, BIB=64, SPLIT=split, num_warps=warps, **meta))
            print(f"dw {bm} {bn} {bk} {warps} {split}: {ms:.3f}")
        except Exception as e:
            print(f"dw {bm} {bn} {bk} {warps} {split}: failed {type(e).__name__}")


if __name__ == "__main__":
    main(*map(int, sys.argv[1:]))
