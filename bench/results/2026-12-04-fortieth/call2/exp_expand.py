"""Experiment (session 40): the forward with X's columns expanded to (input, coefficient) columns by a dot with a 0/1
matrix, so the bases are evaluated in the MMA accumulator layout and feed the main dot from registers."""
import sys
import torch
import triton
import triton.language as tl

from vkan.ops.triton_kan import _tile, _act


@triton.jit
def fwd_expand(x_ptr, grid_ptr, w_ptr, y_ptr, M, I, O, stride_xm, stride_wk, stride_ym,
               Q: tl.constexpr, CP: tl.constexpr, ACT: tl.constexpr, BM: tl.constexpr, BN: tl.constexpr,
               N2: tl.constexpr, BI: tl.constexpr, BIB: tl.constexpr, SPLIT_X: tl.constexpr):
    offs_m = tl.program_id(0) * BM + tl.arange(0, BM)
    mask_m = offs_m[:, None] < M
    offs_n = tl.arange(0, BN)
    kk = tl.arange(0, BI * CP)
    col_i = kk // CP
    shift_c = (kk % CP).to(tl.float32) + 2.0
    if SPLIT_X:  # x = hi + lo, both bf16, interleaved: column 2i hi, 2i + 1 lo
        e = ((tl.arange(0, 2 * BI) // 2)[:, None] == col_i[None, :]).to(tl.bfloat16)
    else:
        e = (tl.arange(0, BI)[:, None] == col_i[None, :]).to(tl.bfloat16)
    acc = tl.zeros((BM, BN), dtype=tl.float32)
    if N2 > 0:
        offs_n2 = BN + tl.arange(0, N2)
        acc2 = tl.zeros((BM, N2), dtype=tl.float32)
    for i0 in range(0, I, BI):
        offs_i = i0 + tl.arange(0, BI)
        x = _tile(x_ptr, offs_m, offs_i, stride_xm, M, I)
        if SPLIT_X:
            xf = x.to(tl.float32)
            hi = xf.to(tl.bfloat16)
            lo = (xf - hi.to(tl.float32)).to(tl.bfloat16)
            xx = tl.reshape(tl.join(hi, lo), (BM, 2 * BI))
        else:
            xx = x.to(tl.bfloat16)
        xr = tl.dot(xx, e)  # (BM, BI*CP): x[m, i0 + k // CP], exact
        ci = i0 + col_i
        t0 = tl.load(grid_ptr + ci * Q, mask=ci < I, other=0.0)
        t1 = tl.load(grid_ptr + ci * Q + 1, mask=ci < I, other=1.0)
        inv_h = 1.0 / (t1 - t0)
        side = xr * inv_h[None, :] - (t0 * inv_h + shift_c)[None, :]
        s = tl.abs(side)
        a = tl.maximum(0.5503212081491044 * (2.0 - s), 0.0)
        c = tl.maximum(0.8735804647362989 * (1.0 - s), 0.0)
        b = (a * a * a - c * c * c).to(w_ptr.dtype.element_ty)
        rows = i0 * CP + kk
        acc = tl.dot(b, _tile(w_ptr, rows, offs_n, stride_wk, I * CP, O), acc)
        if N2 > 0:
            acc2 = tl.dot(b, _tile(w_ptr, rows, offs_n2, stride_wk, I * CP, O), acc2)
    wb_ptr = w_ptr + I * CP * stride_wk
    for i0 in range(0, I, BIB):
        offs_i = i0 + tl.arange(0, BIB)
        xb = _tile(x_ptr, offs_m, offs_i, stride_xm, M, I).to(tl.float32)
        ab = _act(xb, ACT).to(w_ptr.dtype.element_ty)
        acc = tl.dot(ab, _tile(wb_ptr, offs_i, offs_n, stride_wk, I, O), acc)
        if N2 > 0:
            acc2 = tl.dot(ab, _tile(wb_ptr, offs_i, offs_n2, stride_wk, I, O), acc2)
    tl.store(y_ptr + offs_m[:, None] * stride_ym + offs_n[None, :], acc.to(y_ptr.dtype.element_ty),
             mask=mask_m & (offs_n[None, :] < O))
    if N2 > 0:
        tl.store(y_ptr + offs_m[:, None] * stride_ym + offs_n2[None, :], acc2.to(y_ptr.dtype.element_ty),
                 mask=mask_m & (offs_n2[None, :] < O))


def launch(x, grid, w, y, bm=64, bn=128, n2=0, rows=128, warps=4, stages=3):
    m, n_in = x.shape
    n_out = w.shape[1]
    fwd_expand[(triton.cdiv(m, bm),)](x, grid, w, y, m, n_in, n_out, n_in, n_out, n_out, Q=grid.shape[1], CP=8, ACT=1,
                                      BM=bm, BN=bn, N2=n2, BI=rows // 8, BIB=64, SPLIT_X=x.dtype == torch.float32,
                                      num_warps=warps, num_stages=stages)
    return y


def main(m=33280, n_in=192, n_out=80):
    from vkan import KANLinear
    from vkan.bench import graph_calls_ms
    from vkan.ops import kan_op
    torch.manual_seed(0)
    layer = KANLinear(n_in, n_out).cuda()
    sw, sc, bw = layer.spline_weight.detach(), layer.spline_scaler.detach(), layer.base_weight.detach()
    w, wt, cp = kan_op._pack(sw, sc, bw, torch.bfloat16)
    grid = layer.grid
    print(f"## {m}x{n_in}->{n_out}: shipped forward against the expansion forward (ms as CUDA graphs of 20 calls)")
    for xdtype in (torch.float32, torch.bfloat16):
        x = torch.randn(m, n_in, device="cuda").to(xdtype)
        ref = kan_op._launch_fwd(x, grid, w, cp, 3, True, 1, True)
        exact = torch.nn.functional.linear(
            torch.cat([layer.b_splines(x.float()).flatten(1), torch.nn.functional.silu(x.float())], 1),
            torch.cat([(sw * sc[..., None]).flatten(1), bw], 1))
        scale = exact.abs().max().item()
        ms = graph_calls_ms(lambda: kan_op._launch_fwd(x, grid, w, cp, 3, True, 1, True), 20)
        print(f"x {xdtype}: shipped {ms:.4f} ms, err vs fp32 {(ref.float() - exact).abs().max().item() / scale:.2e}")
        y = torch.empty_like(ref)
        for cfg in [(64, 128, 0, 128, 4, 3), (64, 64, 16, 128, 4, 3), (64, 128, 0, 128, 4, 2), (64, 64, 16, 128, 4, 2),
                    (64, 128, 0, 64, 4, 3), (128, 128, 0, 128, 8, 3), (128, 64, 16, 128, 8, 3), (128, 128, 0, 64, 8, 3),
                    (64, 128, 0, 128, 4, 4), (128, 64, 16, 64, 4, 3)]:
            try:
                launch(x, grid, w, y, *cfg)
                err = (y.float() - exact).abs().max().item() / scale
                dif = (y.float() - ref.float()).abs().max().item() / scale
                ms = graph_calls_ms(lambda: launch(x, grid, w, y, *cfg), 20)
                print(f"x {xdtype}: expand {cfg}: {ms:.4f} ms, err vs fp32 {err:.2e}, vs shipped {dif:.2e}")
            except Exception as e:
                print(f"x {xdtype}: expand {cfg}: failed {type(e).__name__} {str(e)[:200]}")


if __name__ == "__main__":
    main(*map(int, sys.argv[1:]))
