"""Experiment kernel for the device (prepared, not yet run): ``kan_dx_rows_kernel`` with the same parameters, its
basis derivatives (uniform grid, order 3 only) in packed fp16 by ``dxh_kernel``'s MODE 3 and 1/h applied after the
sum over coefficients, so that ``exp_dxh_model.py`` can swap it into the shipped launcher (``kan_op._DX_ROWS``)."""
import triton
import triton.language as tl
from vkan.ops.triton_kan import _tile, _act_grad
from dxh_kernel import _dcubic


@triton.jit
def kan_dx_rows_h2_kernel(gy_ptr, x_ptr, grid_ptr, wt_ptr, dx_ptr, M, I, O, stride_gm, stride_xm, stride_wo, stride_dm,
                          Q: tl.constexpr, CP: tl.constexpr, K: tl.constexpr, UNIFORM: tl.constexpr,
                          ACT: tl.constexpr, HAS_BASE: tl.constexpr, BM: tl.constexpr, BI: tl.constexpr,
                          K1: tl.constexpr, K2: tl.constexpr, PRECISION: tl.constexpr):
    tl.static_assert(K == 3 and UNIFORM and HAS_BASE)
    pid_i = tl.program_id(0)
    offs_i = pid_i * BI + tl.arange(0, BI)
    mask_i = offs_i[None, :] < I
    cols = pid_i * BI * CP + tl.arange(0, BI * CP)
    o1 = tl.arange(0, K1)
    w1 = _tile(wt_ptr, o1, cols, stride_wo, O, I * CP)
    wb1 = _tile(wt_ptr + I * CP, o1, offs_i, stride_wo, O, I)
    if K2 > 0:
        o2 = K1 + tl.arange(0, K2)
        w2 = _tile(wt_ptr, o2, cols, stride_wo, O, I * CP)
        wb2 = _tile(wt_ptr + I * CP, o2, offs_i, stride_wo, O, I)
    for m0 in range(tl.program_id(1) * BM, M, tl.num_programs(1) * BM):
        offs_m = m0 + tl.arange(0, BM)
        mask_m = offs_m[:, None] < M
        x = _tile(x_ptr, offs_m, offs_i, stride_xm, M, I).to(tl.float32)
        gy1 = _tile(gy_ptr, offs_m, o1, stride_gm, M, O).to(wt_ptr.dtype.element_ty)
        acc = tl.dot(gy1, w1, input_precision=PRECISION)
        acc_b = tl.dot(gy1, wb1, input_precision=PRECISION)
        if K2 > 0:
            gy2 = _tile(gy_ptr, offs_m, o2, stride_gm, M, O).to(wt_ptr.dtype.element_ty)
            acc = tl.dot(gy2, w2, acc, input_precision=PRECISION)
            acc_b = tl.dot(gy2, wb2, acc_b, input_precision=PRECISION)
        db, inv_h = _dcubic(x, grid_ptr, offs_i, I, Q, CP, 2)
        dx = tl.sum(tl.reshape(acc, (BM, BI, CP)) * db, axis=2) * inv_h[None, :]
        dx += acc_b * _act_grad(x, ACT)
        tl.store(dx_ptr + offs_m[:, None] * stride_dm + offs_i[None, :], dx.to(dx_ptr.dtype.element_ty),
                 mask=mask_m & mask_i)
