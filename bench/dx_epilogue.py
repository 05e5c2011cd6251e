"""The fused input grad's last step in the accumulator's own layout: an experiment against the shipped kernels.

The shipped input-grad kernel (``kan_dx_kernel``) accumulates dA = dY W^T for a (rows, inputs x coefficients) tile
and then reshapes it to (rows, inputs, coefficients) to multiply by the bases' derivatives and sum over the
coefficients. This script times a variant that never reshapes the accumulator: each column (i, c) of the tile
evaluates B'_c(x_i) itself (x gathered per column), and the sum over each input's CP columns is either a reshape and
a sum (``reshape``) or a product with a 0/1 (columns, inputs) matrix on the tensor cores, in bf16 (``dot16``) or
with fp32 operands (``dot32``); ``tile`` evaluates them as the shipped kernel does, on the (rows, inputs,
coefficients) tile, and reshapes them to the accumulator's (rows, columns) before the product; ``ones`` replaces the
derivatives by 1 (the product and the sum alone, a floor; ``no base``: without the base term's second dot).
Every variant is checked against the shipped kernel's dX and timed as CUDA graphs beside it and beside the GEMM
path's input grad (cuBLAS dA, then dX from dA).

    PYTHONPATH=. python bench/dx_epilogue.py [--shapes 33280x192x80,...] [--quick]

Uniform grid, order 3, SiLU base, bf16 weights and dY, fp32 X (as a bf16-autocast ViT block feeds its KAN layers).
"""
import argparse
import itertools

import torch
import triton
import triton.language as tl

from vkan.bench import graph_calls_ms
from vkan.kan import uniform_grid
from vkan.ops import kan_op
from vkan.ops.triton_kan import _act_grad, _bases, _tile

# 1-4: the derivatives evaluated column by column (``columns``); 5-7: evaluated as the shipped kernel does, on the
# (rows, inputs, coefficients) tile, then reshaped to the accumulator's (rows, columns) (``tile``)
EPILOGUES = {"columns reshape": 1, "columns dot16": 2, "columns dot32": 3, "ones dot16": 4, "tile dot16": 5,
             "tile dot32": 6, "ones reshape": 7, "ones dot16 no base": 8}


@triton.jit
def dx_columns_kernel(gy_ptr, x_ptr, grid_ptr, wt_ptr, dx_ptr, M, I, O, NSB, stride_gm, stride_xm, stride_wo,
                      stride_dm, Q: tl.constexpr, CP: tl.constexpr, BM: tl.constexpr, BO: tl.constexpr,
                      BI: tl.constexpr, EPI: tl.constexpr):
    """dX as ``kan_dx_kernel`` (uniform grid, order 3, SiLU base as a second dot), its last step in columns."""
    pid_m = tl.program_id(0) // NSB
    pid_i = tl.program_id(0) % NSB
    offs_m = pid_m * BM + tl.arange(0, BM)
    offs_i = pid_i * BI + tl.arange(0, BI)
    cols = pid_i * BI * CP + tl.arange(0, BI * CP)
    acc = tl.zeros((BM, BI * CP), dtype=tl.float32)
    acc_b = tl.zeros((BM, BI), dtype=tl.float32)
    for o0 in range(0, O, BO):
        offs_o = o0 + tl.arange(0, BO)
        gy = _tile(gy_ptr, offs_m, offs_o, stride_gm, M, O)
        acc = tl.dot(gy, _tile(wt_ptr, offs_o, cols, stride_wo, O, I * CP), acc)
        if EPI != 8:
            acc_b = tl.dot(gy, _tile(wt_ptr + I * CP, offs_o, offs_i, stride_wo, O, I), acc_b)
    col_in = pid_i * BI + tl.arange(0, BI * CP) // CP  # the input of each column
    col_c = (tl.arange(0, BI * CP) % CP).to(tl.float32)  # its coefficient
    x = _tile(x_ptr, offs_m, offs_i, stride_xm, M, I).to(tl.float32)
    if EPI == 4 or EPI == 7 or EPI == 8:
        db = tl.full((BM, BI * CP), 1.0, tl.float32)
    elif EPI >= 5:
        _, db3 = _bases(x, grid_ptr, offs_i, I, Q, CP, 3, True)
        db = tl.reshape(db3, (BM, BI * CP))
    else:
        xc = _tile(x_ptr, offs_m, col_in, stride_xm, M, I).to(tl.float32)  # (BM, BI*CP): x of each column's input
        t0 = tl.load(grid_ptr + col_in * Q, mask=col_in < I, other=0.0)
        inv_h = 1.0 / (tl.load(grid_ptr + col_in * Q + 1, mask=col_in < I, other=1.0) - t0)
        side = (xc - t0[None, :]) * inv_h[None, :] - (col_c + 2.0)[None, :]
        s = tl.abs(side)
        a = tl.maximum(0.5503212081491044 * (2.0 - s), 0.0)
        c = tl.maximum(0.8735804647362989 * (1.0 - s), 0.0)
        db = 2.6207413942088964 * c * c - 1.6509636244473134 * a * a
        db = tl.where(side < 0, -db, db) * inv_h[None, :]
    prod = acc * db
    if EPI == 1 or EPI == 7:
        dx = tl.sum(tl.reshape(prod, (BM, BI, CP)), axis=2)
    else:
        owner = tl.where((tl.arange(0, BI * CP) // CP)[:, None] == tl.arange(0, BI)[None, :], 1.0, 0.0)
        if EPI == 3 or EPI == 6:
            dx = tl.dot(prod, owner, input_precision="tf32")
        else:
            dx = tl.dot(prod.to(tl.bfloat16), owner.to(tl.bfloat16))
    dx += acc_b * _act_grad(x, 1)
    tl.store(dx_ptr + offs_m[:, None] * stride_dm + offs_i[None, :], dx.to(dx_ptr.dtype.element_ty),
             mask=(offs_m[:, None] < M) & (offs_i[None, :] < I))


def columns_dx(gy, x, grid, wt, epi, bm, bo, cols, warps, stages, cp=8):
    """dX (fp32, like x) by ``dx_columns_kernel``."""
    m, n_in = x.shape
    bi = cols // cp
    nsb = triton.cdiv(n_in, bi)
    dx = torch.empty_like(x)
    dx_columns_kernel[(triton.cdiv(m, bm) * nsb,)](gy, x, grid, wt, dx, m, n_in, wt.shape[0], nsb, gy.stride(0),
                                                   x.stride(0), wt.stride(0), dx.stride(0), Q=grid.shape[1], CP=cp,
                                                   BM=bm, BO=bo, BI=bi, EPI=epi, num_warps=warps, num_stages=stages)
    return dx


def shape(m, n_in, n_out, configs, epilogues, out):
    grid = uniform_grid(n_in, 5, 3, (-1, 1), device="cuda")  # KANLinear's default grid
    x = torch.randn(m, n_in, device="cuda")
    gy = torch.randn(m, n_out, device="cuda", dtype=torch.bfloat16)
    sw, sc, bw = (torch.randn(n_out, n_in, 8, device="cuda") * 0.1, torch.rand(n_out, n_in, device="cuda"),
                  torch.randn(n_out, n_in, device="cuda") * 0.1)
    _, wt, cp = kan_op._pack(sw, sc, bw, torch.bfloat16)
    shipped = lambda: kan_op._launch_dx(gy, x, grid, wt, cp, 3, True, 1, True)
    gemm = lambda: kan_op._launch_dx_bases(torch.mm(gy, wt), x, grid, cp, 3, True, 1, True)
    ref = shipped()
    scale = ref.abs().max().item()
    tiles = kan_op._DX.arguments(kan_op._dx_geometry(m, n_in, n_out, wt.shape[1], 12, cp, 3, True, 1, True, None,
                                                     torch.bfloat16, "tf32")[0])
    out(f"## {m}x{n_in}->{n_out}: ms as CUDA graphs (max |dX - shipped| / max |dX|)")
    out(f"shipped fused ({tiles['BM']} rows, {tiles['BO']} outputs a step, {tiles['BI'] * cp} columns): "
        f"{graph_calls_ms(shipped):.4f}")
    out(f"GEMM path (dA, then dX from dA): {graph_calls_ms(gemm):.4f} "
        f"({(gemm() - ref).abs().max().item() / scale:.1e})")
    for name, (bm, bo, cols, warps, stages) in itertools.product(epilogues, configs):
        epi = EPILOGUES[name]
        if bo > n_out:
            continue
        run = lambda: columns_dx(gy, x, grid, wt, epi, bm, bo, cols, warps, stages, cp)
        label = f"{name} {bm} {bo} {cols} {warps} {stages}"
        try:
            diff = "" if name.startswith("ones") else f" ({(run() - ref).abs().max().item() / scale:.1e})"
            out(f"{label}: {graph_calls_ms(run):.4f}{diff}")
        except Exception as e:  # out of registers / shared memory
            out(f"{label}: failed {type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else ''}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default="33280x192x80,25216x384x160,25216x160x384,12608x768x304",
                        help="M x inputs x outputs, comma-separated")
    parser.add_argument("--quick", action="store_true", help="one tile (64 rows, 32 outputs a step, 128 columns)")
    parser.add_argument("--epilogues", default=",".join(EPILOGUES), help=f"comma-separated, of {list(EPILOGUES)}")
    args = parser.parse_args()
    chosen = args.epilogues.split(",")
    unknown = set(chosen) - set(EPILOGUES)
    if unknown:
        parser.error(f"unknown epilogues {sorted(unknown)}; choose from {list(EPILOGUES)}")
    configs = [(64, 32, 128, 4, 3)] if args.quick else [
        (64, 32, 128, 4, 3), (128, 32, 128, 4, 3), (128, 64, 128, 8, 3), (128, 64, 128, 4, 3), (64, 32, 256, 4, 3),
        (128, 32, 256, 8, 3), (64, 16, 128, 4, 3)]
    for s in args.shapes.split(","):
        shape(*map(int, s.split("x")), configs, chosen, lambda line: print(line, flush=True))


if __name__ == "__main__":
    main()
