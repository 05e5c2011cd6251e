"""Triton kernels for KANLinear's spline matmul, with the B-spline bases computed on the fly.

The spline part of a KAN layer is ``Y = B(X) @ W`` with ``B(X)`` of shape (M, I*C). These kernels never
write ``B(X)`` to global memory: each program evaluates the bases of its (BM, BI) input tile in registers
and feeds them to ``tl.dot``: on a uniform grid (every layer until ``update_grid``) as cardinal B-splines
in closed form, otherwise by Cox-de Boor on the tile's own knots (any strictly increasing grid).

- forward:  Y[m, o]  = sum_{i,c} B_c(x[m, i]) W[(i, c), o]
- grad x:   dX[m, i] = sum_c B'_c(x[m, i]) * (dY @ W^T)[m, (i, c)]
- grad W:   dW[(i, c), o] = sum_m B_c(x[m, i]) dY[m, o]   (split over M, partial sums reduced in torch)

The coefficient axis is padded to CP = next power of two >= C with zero weights; W is stored as
(I*CP, O) (and (O, I*CP) for the input gradient).
"""
from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def _inv(d):
    """1/d for knot spans, 0 for empty spans (padded or clamped knots)."""
    return tl.where(d > 0, 1.0 / tl.where(d > 0, d, 1.0), 0.0)


@triton.jit
def _step(x, lo_a, hi_a, ba, lo_b, hi_b, bb):
    """One Cox-de Boor step: (x - lo_a)/(hi_a - lo_a) * ba + (hi_b - x)/(hi_b - lo_b) * bb."""
    return (x - lo_a) * _inv(hi_a - lo_a) * ba + (hi_b - x) * _inv(hi_b - lo_b) * bb


@triton.jit
def _knot(row_ptr, offs_c, r: tl.constexpr, Q: tl.constexpr):
    """Knots t[i, c + r] of a tile, clamped to the row: (1, BI, CP)."""
    idx = tl.minimum(offs_c + r, Q - 1)
    return tl.load(row_ptr + idx[None, :])[None, :, :]


@triton.jit
def _bases_uniform(x, aux_ptr, offs_i, I, CP: tl.constexpr, K: tl.constexpr):
    """Bases and derivatives on a uniform grid t_c = t_0 + c h: cardinal B-splines of u - c, u = (x - t_0)/h.

    aux holds t_0 (row 0) and 1/h (row 1) per input. About 15 operations per (input, coefficient) pair,
    against about 60 for the general recursion.
    """
    mask_i = offs_i < I
    t0 = tl.load(aux_ptr + offs_i, mask=mask_i, other=0.0)
    inv_h = tl.load(aux_ptr + I + offs_i, mask=mask_i, other=1.0)
    u = (x - t0[None, :]) * inv_h[None, :]  # (BM, BI)
    v = u[:, :, None] - tl.arange(0, CP).to(tl.float32)[None, None, :]  # (BM, BI, CP)
    if K == 1:  # hat function; its derivative jumps at knots, so take the right limit like Cox-de Boor
        rising = (v >= 0.0) & (v < 1.0)
        falling = (v >= 1.0) & (v < 2.0)
        b = tl.where(rising, v, tl.where(falling, 2.0 - v, 0.0))
        db = tl.where(rising, 1.0, tl.where(falling, -1.0, 0.0))
        side = v - 1.0 + 2.0  # keeps the sign of db as it is
    elif K == 2:
        s = tl.abs(v - 1.5)
        w = 1.5 - s
        inner = s < 0.5
        outer = s < 1.5
        b = tl.where(inner, 0.75 - s * s, tl.where(outer, 0.5 * w * w, 0.0))
        db = tl.where(inner, -2.0 * s, tl.where(outer, -w, 0.0))
        side = v - 1.5
    else:
        s = tl.abs(v - 2.0)
        w = 2.0 - s
        inner = s < 1.0
        outer = s < 2.0
        b = tl.where(inner, 0.6666666666666666 + s * s * (0.5 * s - 1.0), tl.where(outer, w * w * w * 0.16666666666666666, 0.0))
        db = tl.where(inner, s * (1.5 * s - 2.0), tl.where(outer, -0.5 * w * w, 0.0))
        side = v - 2.0
    db = tl.where(side < 0, -db, db) * inv_h[None, :, None]
    return b, db


@triton.jit
def _bases_general(x, grid_ptr, offs_i, I, Q: tl.constexpr, CP: tl.constexpr, K: tl.constexpr):
    """Order-K bases and their derivatives of a (BM, BI) fp32 tile on any increasing knots: (BM, BI, CP) x 2."""
    offs_c = tl.arange(0, CP)
    row_ptr = grid_ptr + tl.minimum(offs_i, I - 1)[:, None] * Q  # (BI, 1)
    xe = x[:, :, None]  # (BM, BI, 1)
    t0 = _knot(row_ptr, offs_c, 0, Q)
    t1 = _knot(row_ptr, offs_c, 1, Q)
    t2 = _knot(row_ptr, offs_c, 2, Q)
    i0 = tl.where((xe >= t0) & (xe < t1), 1.0, 0.0)
    i1 = tl.where((xe >= t1) & (xe < t2), 1.0, 0.0)
    if K == 1:
        b = _step(xe, t0, t1, i0, t1, t2, i1)
        db = i0 * _inv(t1 - t0) - i1 * _inv(t2 - t1)
    else:
        t3 = _knot(row_ptr, offs_c, 3, Q)
        i2 = tl.where((xe >= t2) & (xe < t3), 1.0, 0.0)
        b10 = _step(xe, t0, t1, i0, t1, t2, i1)
        b11 = _step(xe, t1, t2, i1, t2, t3, i2)
        if K == 2:
            b = _step(xe, t0, t2, b10, t1, t3, b11)
            db = 2.0 * (b10 * _inv(t2 - t0) - b11 * _inv(t3 - t1))
        else:
            t4 = _knot(row_ptr, offs_c, 4, Q)
            i3 = tl.where((xe >= t3) & (xe < t4), 1.0, 0.0)
            b12 = _step(xe, t2, t3, i2, t3, t4, i3)
            b20 = _step(xe, t0, t2, b10, t1, t3, b11)
            b21 = _step(xe, t1, t3, b11, t2, t4, b12)
            b = _step(xe, t0, t3, b20, t1, t4, b21)
            db = 3.0 * (b20 * _inv(t3 - t0) - b21 * _inv(t4 - t1))
    return b, db


@triton.jit
def _bases(x, grid_ptr, aux_ptr, offs_i, I, Q: tl.constexpr, CP: tl.constexpr, K: tl.constexpr,
           UNIFORM: tl.constexpr):
    """Bases and derivatives of a (BM, BI) fp32 input tile: two (BM, BI, CP) fp32 tensors."""
    if UNIFORM:
        b, db = _bases_uniform(x, aux_ptr, offs_i, I, CP, K)
    else:
        b, db = _bases_general(x, grid_ptr, offs_i, I, Q, CP, K)
    return b, db


@triton.jit
def spline_fwd_kernel(x_ptr, grid_ptr, aux_ptr, w_ptr, y_ptr, M, I, O, stride_xm, stride_wk, stride_ym,
                      Q: tl.constexpr, CP: tl.constexpr, K: tl.constexpr, UNIFORM: tl.constexpr, BM: tl.constexpr, BN: tl.constexpr,
                      BI: tl.constexpr, PRECISION: tl.constexpr):
    """Y (M, O) = B(X) @ W, X (M, I), W (I*CP, O)."""
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    offs_m = pid_m * BM + tl.arange(0, BM)
    offs_n = pid_n * BN + tl.arange(0, BN)
    offs_k = tl.arange(0, BI * CP)
    acc = tl.zeros((BM, BN), dtype=tl.float32)
    for i0 in range(0, I, BI):
        offs_i = i0 + tl.arange(0, BI)
        x = tl.load(x_ptr + offs_m[:, None] * stride_xm + offs_i[None, :],
                    mask=(offs_m[:, None] < M) & (offs_i[None, :] < I), other=0.0).to(tl.float32)
        b, _ = _bases(x, grid_ptr, aux_ptr, offs_i, I, Q, CP, K, UNIFORM)
        a = tl.reshape(b, (BM, BI * CP)).to(w_ptr.dtype.element_ty)
        rows = i0 * CP + offs_k
        w = tl.load(w_ptr + rows[:, None] * stride_wk + offs_n[None, :],
                    mask=(rows[:, None] < I * CP) & (offs_n[None, :] < O), other=0.0)
        acc = tl.dot(a, w, acc, input_precision=PRECISION)
    tl.store(y_ptr + offs_m[:, None] * stride_ym + offs_n[None, :], acc.to(y_ptr.dtype.element_ty),
             mask=(offs_m[:, None] < M) & (offs_n[None, :] < O))


@triton.jit
def spline_dx_kernel(gy_ptr, x_ptr, grid_ptr, aux_ptr, wt_ptr, dx_ptr, M, I, O, stride_gm, stride_xm, stride_wo, stride_dm,
                     Q: tl.constexpr, CP: tl.constexpr, K: tl.constexpr, UNIFORM: tl.constexpr, BM: tl.constexpr, BO: tl.constexpr,
                     BI: tl.constexpr, PRECISION: tl.constexpr):
    """dX (M, I) = sum_c B'(X) * (dY @ W^T), dY (M, O), W^T (O, I*CP)."""
    pid_m = tl.program_id(0)
    pid_i = tl.program_id(1)
    offs_m = pid_m * BM + tl.arange(0, BM)
    offs_i = pid_i * BI + tl.arange(0, BI)
    cols = pid_i * BI * CP + tl.arange(0, BI * CP)
    acc = tl.zeros((BM, BI * CP), dtype=tl.float32)
    for o0 in range(0, O, BO):
        offs_o = o0 + tl.arange(0, BO)
        gy = tl.load(gy_ptr + offs_m[:, None] * stride_gm + offs_o[None, :],
                     mask=(offs_m[:, None] < M) & (offs_o[None, :] < O), other=0.0)
        wt = tl.load(wt_ptr + offs_o[:, None] * stride_wo + cols[None, :],
                     mask=(offs_o[:, None] < O) & (cols[None, :] < I * CP), other=0.0)
        acc = tl.dot(gy.to(wt.dtype), wt, acc, input_precision=PRECISION)
    x = tl.load(x_ptr + offs_m[:, None] * stride_xm + offs_i[None, :],
                mask=(offs_m[:, None] < M) & (offs_i[None, :] < I), other=0.0).to(tl.float32)
    _, db = _bases(x, grid_ptr, aux_ptr, offs_i, I, Q, CP, K, UNIFORM)
    dx = tl.sum(tl.reshape(acc, (BM, BI, CP)) * db, axis=2)  # (BM, BI)
    tl.store(dx_ptr + offs_m[:, None] * stride_dm + offs_i[None, :], dx.to(dx_ptr.dtype.element_ty),
             mask=(offs_m[:, None] < M) & (offs_i[None, :] < I))


@triton.jit
def spline_dw_kernel(gy_ptr, x_ptr, grid_ptr, aux_ptr, part_ptr, M, I, O, stride_gm, stride_xm, stride_pk, stride_ps,
                     Q: tl.constexpr, CP: tl.constexpr, K: tl.constexpr, UNIFORM: tl.constexpr, BM: tl.constexpr, BN: tl.constexpr,
                     BI: tl.constexpr, SPLIT: tl.constexpr, PRECISION: tl.constexpr):
    """partial[s] (I*CP, O) = B(X[rows of split s])^T @ dY[rows of split s]."""
    pid_i = tl.program_id(0)
    pid_n = tl.program_id(1)
    pid_s = tl.program_id(2)
    offs_i = pid_i * BI + tl.arange(0, BI)
    offs_n = pid_n * BN + tl.arange(0, BN)
    acc = tl.zeros((BI * CP, BN), dtype=tl.float32)
    for m0 in range(pid_s * BM, M, SPLIT * BM):
        offs_m = m0 + tl.arange(0, BM)
        x = tl.load(x_ptr + offs_m[:, None] * stride_xm + offs_i[None, :],
                    mask=(offs_m[:, None] < M) & (offs_i[None, :] < I), other=0.0).to(tl.float32)
        gy = tl.load(gy_ptr + offs_m[:, None] * stride_gm + offs_n[None, :],
                     mask=(offs_m[:, None] < M) & (offs_n[None, :] < O), other=0.0)
        b, _ = _bases(x, grid_ptr, aux_ptr, offs_i, I, Q, CP, K, UNIFORM)
        bt = tl.trans(tl.reshape(b, (BM, BI * CP))).to(gy.dtype)  # (BI*CP, BM)
        acc = tl.dot(bt, gy, acc, input_precision=PRECISION)
    rows = pid_i * BI * CP + tl.arange(0, BI * CP)
    tl.store(part_ptr + pid_s * stride_ps + rows[:, None] * stride_pk + offs_n[None, :], acc,
             mask=(rows[:, None] < I * CP) & (offs_n[None, :] < O))
