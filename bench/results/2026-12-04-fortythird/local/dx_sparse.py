"""Experiment kernel (forty-third session, prepared offline): the held-columns input grad (``kan_dx_rows_kernel``,
uniform cubic grid, base branch) with the spline part of dX from the four non-zero derivatives only. At u = (x - t_0)/h
in interval j = floor(u), t = u - j, the bases c = j - k (k = 0..3) have derivatives d/du t^2/2, (-3t^2 + 2t + 1)/2,
(3t^2 - 4t)/2 and -(1 - t)^2/2: four quadratics evaluated once an (row, input) pair, each multiplying the column of dY W^T
that ``tl.gather`` takes from the program's accumulator, instead of eight derivatives (the shipped PACKED form: packed
fp16, one per (row, input, coefficient)). SPARSE 0: the shipped ``_spline_dx``; 1: the four gathers."""
import triton
import triton.language as tl
from vkan.ops.triton_kan import _tile, _act_grad, _knot_units, _spline_dx


@triton.jit
def _pick(g3, j, k: tl.constexpr, CP: tl.constexpr):
    """g3[m, i, j - k] (0 where j - k is outside the padded coefficients)."""
    idx = j - k
    inside = (idx >= 0) & (idx < CP)
    col = tl.gather(g3, tl.where(inside, idx, 0)[:, :, None], axis=2)
    return tl.where(inside, tl.reshape(col, (g3.shape[0], g3.shape[1])), 0.0)


@triton.jit
def _spline_dx_sparse(g, x, grid_ptr, offs_i, I, Q: tl.constexpr, CP: tl.constexpr):
    u, inv_h = _knot_units(x, grid_ptr, offs_i, I, Q)
    lo = tl.floor(u)
    t = u - lo
    j = lo.to(tl.int32)
    g3 = tl.reshape(g, (x.shape[0], x.shape[1], CP))
    t2 = t * t
    s = 1.0 - t
    dx = _pick(g3, j, 0, CP) * (0.5 * t2)
    dx += _pick(g3, j, 1, CP) * (-1.5 * t2 + t + 0.5)
    dx += _pick(g3, j, 2, CP) * (1.5 * t2 - 2.0 * t)
    dx -= _pick(g3, j, 3, CP) * (0.5 * s * s)
    return dx * inv_h[None, :]


@triton.jit
def dx_sparse_kernel(gy_ptr, x_ptr, grid_ptr, wt_ptr, dx_ptr, M, I, O, stride_gm, stride_xm, stride_wo, stride_dm,
                     Q: tl.constexpr, CP: tl.constexpr, K: tl.constexpr, UNIFORM: tl.constexpr, ACT: tl.constexpr,
                     HAS_BASE: tl.constexpr, BM: tl.constexpr, BI: tl.constexpr, K1: tl.constexpr, K2: tl.constexpr,
                     PRECISION: tl.constexpr, PACKED: tl.constexpr, SPARSE: tl.constexpr):
    """``kan_dx_rows_kernel``'s program with the spline part from ``_spline_dx`` (SPARSE 0) or ``_spline_dx_sparse``
    (1); the shipped kernel's parameters and SPARSE, so that it binds through the shipped geometry."""
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
        if SPARSE:
            dx = _spline_dx_sparse(acc, x, grid_ptr, offs_i, I, Q, CP)
        else:
            dx = _spline_dx(acc, x, grid_ptr, offs_i, I, Q, CP, K, UNIFORM, PACKED)
        dx += acc_b * _act_grad(x, ACT)
        tl.store(dx_ptr + offs_m[:, None] * stride_dm + offs_i[None, :], dx.to(dx_ptr.dtype.element_ty),
                 mask=mask_m & mask_i)
