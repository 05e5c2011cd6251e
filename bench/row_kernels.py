"""The GEMM path's two row kernels (bases A, and dX from dA) against variants that walk each row block's inputs in a
loop (every program writes or reads whole rows of A, contiguous in memory), with the bandwidth a plain fill and copy
of A's bytes reach on the same GPU, as CUDA graphs (kernels only).

    PYTHONPATH=. python bench/row_kernels.py [--shapes 25216x384,25216x160,...]

Each variant's output is checked against the shipped kernel's (the same arithmetic: equal bits).
"""
import argparse

import torch
import triton
import triton.language as tl

from vkan.bench import graph_time_ms
from vkan.ops import kan_op, triton_kan as tk


@triton.jit
def bases_rows_kernel(x_ptr, grid_ptr, a_ptr, M, I, stride_xm, stride_am, Q: tl.constexpr, CP: tl.constexpr,
                      K: tl.constexpr, UNIFORM: tl.constexpr, ACT: tl.constexpr, HAS_BASE: tl.constexpr,
                      BM: tl.constexpr, BI: tl.constexpr, BIB: tl.constexpr):
    """A as ``kan_bases_kernel`` writes it, one program per BM rows walking all inputs, BI at a time."""
    offs_m = tl.program_id(0) * BM + tl.arange(0, BM)
    mask_m = offs_m[:, None] < M
    row = a_ptr + offs_m.to(tl.int64)[:, None] * stride_am
    for i0 in range(0, I, BI):
        offs_i = i0 + tl.arange(0, BI)
        cols = i0 * CP + tl.arange(0, BI * CP)
        x = tk._tile(x_ptr, offs_m, offs_i, stride_xm, M, I).to(tl.float32)
        b, _ = tk._bases(x, grid_ptr, offs_i, I, Q, CP, K, UNIFORM)
        tl.store(row + cols[None, :], tl.reshape(b, (BM, BI * CP)).to(a_ptr.dtype.element_ty),
                 mask=mask_m & (cols[None, :] < I * CP))
    if HAS_BASE:
        for j0 in range(0, I, BIB):
            offs_j = j0 + tl.arange(0, BIB)
            xb = tk._tile(x_ptr, offs_m, offs_j, stride_xm, M, I).to(tl.float32)
            tl.store(row + I * CP + offs_j[None, :], tk._act(xb, ACT).to(a_ptr.dtype.element_ty),
                     mask=mask_m & (offs_j[None, :] < I))


@triton.jit
def dx_bases_rows_kernel(da_ptr, x_ptr, grid_ptr, dx_ptr, M, I, stride_dam, stride_xm, stride_dm, Q: tl.constexpr,
                         CP: tl.constexpr, K: tl.constexpr, UNIFORM: tl.constexpr, ACT: tl.constexpr,
                         HAS_BASE: tl.constexpr, BM: tl.constexpr, BI: tl.constexpr):
    """dX as ``kan_dx_bases_kernel`` computes it, one program per BM rows walking all inputs, BI at a time."""
    offs_m = tl.program_id(0) * BM + tl.arange(0, BM)
    mask_m = offs_m[:, None] < M
    row = da_ptr + offs_m.to(tl.int64)[:, None] * stride_dam
    for i0 in range(0, I, BI):
        offs_i = i0 + tl.arange(0, BI)
        cols = i0 * CP + tl.arange(0, BI * CP)
        mask_i = offs_i[None, :] < I
        x = tk._tile(x_ptr, offs_m, offs_i, stride_xm, M, I).to(tl.float32)
        _, db = tk._bases(x, grid_ptr, offs_i, I, Q, CP, K, UNIFORM)
        da = tl.load(row + cols[None, :], mask=mask_m & (cols[None, :] < I * CP), other=0.0).to(tl.float32)
        dx = tl.sum(tl.reshape(da, (BM, BI, CP)) * db, axis=2)
        if HAS_BASE:
            da_b = tl.load(row + I * CP + offs_i[None, :], mask=mask_m & mask_i, other=0.0).to(tl.float32)
            dx += da_b * tk._act_grad(x, ACT)
        tl.store(dx_ptr + offs_m[:, None] * stride_dm + offs_i[None, :], dx.to(dx_ptr.dtype.element_ty),
                 mask=mask_m & mask_i)


def graph_ms(fn, calls=20):
    ms, err = graph_time_ms(lambda: [fn() for _ in range(calls)], rep_ms=100)
    if err:
        raise RuntimeError(err)
    return ms / calls


def shape(m, n_in, out):
    cp, kt = 8, n_in * 9
    grid = torch.linspace(-2.2, 2.2, 12, device="cuda").repeat(n_in, 1)  # KANLinear's default grid (5 + 2*3 knots)
    x = torch.randn(m, n_in, device="cuda")
    da = torch.randn(m, kt, device="cuda", dtype=torch.bfloat16)
    a_ref = kan_op._launch_bases(x, grid, kt, cp, 3, True, 1, True, torch.bfloat16)
    dx_ref = kan_op._launch_dx_bases(da, x, grid, cp, 3, True, 1, True)
    a, dx = torch.empty_like(a_ref), torch.empty_like(dx_ref)
    gb_a = (a.numel() * 2 + x.numel() * 4) / 1e9
    gb_dx = gb_a + x.numel() * 4 / 1e9
    meta = dict(Q=12, CP=cp, K=3, UNIFORM=True, ACT=1, HAS_BASE=True)
    out(f"## {m}x{n_in}: A {a.numel() * 2 / 1e6:.0f} MB; ms, TB/s (A or dA and X, dX written)")
    fill = graph_ms(lambda: a.fill_(1.0))
    copy_src = torch.empty_like(a)
    copy = graph_ms(lambda: a.copy_(copy_src))
    out(f"roofline: fill A {fill:.4f} ms {a.numel() * 2 / 1e9 / fill:.2f} TB/s; copy A {copy:.4f} ms "
        f"{a.numel() * 4 / 1e9 / copy:.2f} TB/s")
    ms = graph_ms(lambda: kan_op._launch_bases(x, grid, kt, cp, 3, True, 1, True, torch.bfloat16))
    out(f"bases shipped: {ms:.4f} ms {gb_a / ms:.2f} TB/s")
    for bm, cols, warps in [(8, 256, 4), (16, 256, 4), (16, 128, 4), (32, 128, 4), (32, 256, 4), (16, 512, 4),
                            (32, 256, 8), (64, 128, 4), (64, 256, 8)]:
        bi = cols // cp
        try:
            fn = lambda: bases_rows_kernel[(triton.cdiv(m, bm),)](
                x, grid, a, m, n_in, n_in, kt, BM=bm, BI=bi, BIB=min(cols, 256), num_warps=warps, num_stages=1, **meta)
            a.zero_()
            fn()
            same = torch.equal(a, a_ref)
            ms = graph_ms(fn)
            out(f"bases rows {bm} {cols} {warps}: {ms:.4f} ms {gb_a / ms:.2f} TB/s equal={same}")
        except Exception as e:
            out(f"bases rows {bm} {cols} {warps}: failed {type(e).__name__} {str(e)[:100]}")
    ms = graph_ms(lambda: kan_op._launch_dx_bases(da, x, grid, cp, 3, True, 1, True))
    out(f"dX shipped: {ms:.4f} ms {gb_dx / ms:.2f} TB/s")
    for bm, cols, warps in [(8, 256, 4), (16, 128, 4), (16, 256, 4), (32, 128, 4), (32, 256, 8), (16, 512, 4),
                            (64, 128, 8)]:
        bi = cols // cp
        try:
            fn = lambda: dx_bases_rows_kernel[(triton.cdiv(m, bm),)](
                da, x, grid, dx, m, n_in, kt, n_in, n_in, BM=bm, BI=bi, num_warps=warps, num_stages=1, **meta)
            dx.zero_()
            fn()
            same = torch.equal(dx, dx_ref)
            err = (dx - dx_ref).abs().max().item()
            ms = graph_ms(fn)
            out(f"dX rows {bm} {cols} {warps}: {ms:.4f} ms {gb_dx / ms:.2f} TB/s equal={same} maxdiff={err:.2e}")
        except Exception as e:
            out(f"dX rows {bm} {cols} {warps}: failed {type(e).__name__} {str(e)[:100]}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default="25216x384,25216x160,33280x192,33280x80,12608x768,12608x304")
    args = parser.parse_args()
    for s in args.shapes.split(","):
        m, n_in = map(int, s.split("x"))
        shape(m, n_in, lambda line: print(line, flush=True))


if __name__ == "__main__":
    main()
