"""Times each fused kernel (forward, input grad, weight grad) of one KANLinear shape, over a few tile
configurations, to show where the time goes and which tiles to ship.

    PYTHONPATH=. python bench/kernel_breakdown.py [M IN OUT [SWEEP=1|0]]
"""
import itertools
import sys

import torch
import triton
import triton.testing

from vkan import KANLinear
from vkan.ops import kan_op
from vkan.ops import triton_kan as tk


def bench(fn):
    return triton.testing.do_bench(fn, warmup=25, rep=100, return_mode="median")


def main(m=16640, n_in=192, n_out=768, sweep=1):
    layer = KANLinear(n_in, n_out).cuda()
    x = torch.randn(m, n_in, device="cuda")
    cp = kan_op.padded_coefs(layer.n_coef)
    w = torch.nn.functional.pad(layer.scaled_spline_weight.detach().bfloat16(), (0, cp - layer.n_coef))
    wp = w.permute(1, 2, 0).reshape(n_in * cp, n_out).contiguous()
    wt = wp.t().contiguous()
    grid = layer.grid.float().contiguous()
    aux = torch.stack([grid[:, 0], 1.0 / (grid[:, 1] - grid[:, 0])])
    gy = torch.randn(m, n_out, device="cuda", dtype=torch.bfloat16)
    y = torch.empty(m, n_out, device="cuda", dtype=torch.bfloat16)
    dx = torch.empty_like(x)
    gf = 2 * m * n_in * layer.n_coef * n_out / 1e9
    print(f"## {m}x{n_in}->{n_out}: shipped launchers")
    for uniform in (True, False):
        for name, fn in [("fwd", lambda: kan_op._launch_fwd(x, grid, aux, wp, 3, uniform)),
                         ("dx", lambda: kan_op._launch_dx(gy, x, grid, aux, wp, 3, uniform)),
                         ("dw", lambda: kan_op._launch_dw(gy, x, grid, aux, wp, 3, uniform))]:
            ms = bench(fn)
            print(f"uniform={uniform} {name}: {ms:.3f} ms, {gf / ms:.0f} TFLOP/s")
    a = torch.randn(m, n_in * layer.n_coef, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(n_in * layer.n_coef, n_out, device="cuda", dtype=torch.bfloat16)
    print(f"cuBLAS on materialised bases: {bench(lambda: a @ b):.3f} ms")
    if not sweep:
        return
    print("## forward tiles (uniform): BM BN BK warps stages -> ms")
    bns = (64, 128) if n_out <= 128 else (128, 256)  # output tiles that fit the layer's width
    for bm, bn, bk, warps, stages in itertools.product((32, 64, 128), bns, (64, 128), (4, 8), (3,)):
        bi = bk // cp
        try:
            ms = bench(lambda: tk.spline_fwd_kernel[(triton.cdiv(m, bm), triton.cdiv(n_out, bn))](
                x, grid, aux, wp, y, m, n_in, n_out, x.stride(0), wp.stride(0), y.stride(0), Q=grid.shape[1], CP=cp,
                K=3, UNIFORM=True, BM=bm, BN=bn, BI=bi, PRECISION="tf32", num_warps=warps, num_stages=stages))
            print(f"fwd {bm} {bn} {bk} {warps} {stages}: {ms:.3f}")
        except Exception as e:  # out of shared memory / registers
            print(f"fwd {bm} {bn} {bk} {warps} {stages}: failed {type(e).__name__}")
    print("## input-grad tiles (uniform): BM BO BK warps -> ms")
    for bm, bo, bk, warps in itertools.product((64, 128), (32, 64, 128), (64, 128), (4, 8)):
        bi = bk // cp
        try:
            ms = bench(lambda: tk.spline_dx_kernel[(triton.cdiv(m, bm), triton.cdiv(n_in, bi))](
                gy, x, grid, aux, wt, dx, m, n_in, n_out, gy.stride(0), x.stride(0), wt.stride(0), dx.stride(0),
                Q=grid.shape[1], CP=cp, K=3, UNIFORM=True, BM=bm, BO=bo, BI=bi, PRECISION="tf32",
                num_warps=warps, num_stages=3))
            print(f"dx {bm} {bo} {bk} {warps}: {ms:.3f}")
        except Exception as e:
            print(f"dx {bm} {bo} {bk} {warps}: failed {type(e).__name__}")
    print("## weight-grad tiles (uniform): BM BN BK warps split -> ms")
    for bm, bn, bk, warps, split in itertools.product((64,), bns, (32, 64, 128), (4, 8), (8, 32)):
        bi = bk // cp
        part = torch.empty((split, n_in * cp, n_out), device="cuda")
        try:
            ms = bench(lambda: tk.spline_dw_kernel[(triton.cdiv(n_in, bi), triton.cdiv(n_out, bn), split)](
                gy, x, grid, aux, part, m, n_in, n_out, gy.stride(0), x.stride(0), part.stride(1), part.stride(0),
                Q=grid.shape[1], CP=cp, K=3, UNIFORM=True, BM=bm, BN=bn, BI=bi, SPLIT=split, PRECISION="tf32",
                num_warps=warps, num_stages=3))
            print(f"dw {bm} {bn} {bk} {warps} {split}: {ms:.3f}")
        except Exception as e:
            print(f"dw {bm} {bn} {bk} {warps} {split}: failed {type(e).__name__}")


if __name__ == "__main__":
    main(*map(int, sys.argv[1:]))
