"""Triton kernels for a whole KANLinear layer, with the B-spline bases computed on the fly.

A KAN layer is ``Y = B(X) @ Ws + act(X) @ Wb`` with ``B(X)`` of shape (M, I*C). The fused kernels never write
``B(X)`` (or ``act(X)``) to global memory (the GEMM path's, last in the list, do): each program evaluates the bases
of its (BM, BI) input tile in registers and feeds them to ``tl.dot``: on a uniform grid (every layer until
``update_grid``) as cardinal B-splines in closed form, otherwise by Cox-de Boor on the tile's own knots (any strictly
increasing grid).

- pack:     W (I*CP + I, O) = [spline_weight * spline_scaler laid out (i, c) by o; base_weight^T], and W^T
- forward:  Y[m, o]  = sum_{i,c} B_c(x[m, i]) W[(i, c), o] + sum_i act(x[m, i]) W[I*CP + i, o]
- grad x:   dX[m, i] = sum_c B'_c(x[m, i]) * (dY @ W^T)[m, (i, c)] + act'(x[m, i]) * (dY @ W^T)[m, I*CP + i]; tiled
            by (rows, inputs), or (``kan_dx_rows_kernel``, narrow layers) with each program's W^T columns held
            while it walks its rows
- grad W:   dW[r, o] = sum_m [B(X), act(X)][m, r] dY[m, o]   (split over M into fp32 partial sums)
- unpack:   sums the partials and maps dW back to spline_weight, spline_scaler and base_weight gradients
- GEMM path: ``kan_bases_kernel`` writes A = [B(X), act(X)] (M, I*CP + I) for torch.mm's three products, and
  ``kan_dx_bases_kernel`` turns dA = dY @ W^T into dX as the input-grad kernel does
- co-launch (GEMM path): the pack's programs in the bases kernel's launch (``kan_bases_pack_kernel``)

The fused kernels evaluate the bases in fp32. The row kernels (the GEMM path's two and the held-columns input grad)
of bf16 layers at order 3 on a uniform grid do it in packed fp16 on NVIDIA GPUs (``_cubic_packed_at``, PACKED): two
(input, coefficient) pairs an instruction, about as accurate as bf16's own rounding of A (kan_op._packed).

The coefficient axis is padded to CP = next power of two >= C with zero weights. The base rows are
optional (HAS_BASE), so the same kernels also run a spline-only matmul.
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
def _tile(ptr, rows, cols, stride, n_rows, n_cols):
    """Tile ``ptr[rows, cols]`` of a row-major (n_rows, n_cols) matrix with row stride ``stride``; 0 outside."""
    return tl.load(ptr + rows[:, None] * stride + cols[None, :],
                   mask=(rows[:, None] < n_rows) & (cols[None, :] < n_cols), other=0.0)


@triton.jit
def _act(x, ACT: tl.constexpr):
    """Base activation of an fp32 tile: 0 identity, 1 SiLU, 2 ReLU, 3 GELU (erf), 4 tanh."""
    if ACT == 1:
        y = x * tl.sigmoid(x)
    elif ACT == 2:
        y = tl.maximum(x, 0.0)
    elif ACT == 3:
        y = 0.5 * x * (1.0 + tl.erf(x * 0.7071067811865476))
    elif ACT == 4:
        y = 2.0 * tl.sigmoid(2.0 * x) - 1.0
    else:
        y = x
    return y


@triton.jit
def _act_grad(x, ACT: tl.constexpr):
    """Derivative of ``_act`` (ReLU: 0 at 0, like torch)."""
    if ACT == 1:
        s = tl.sigmoid(x)
        d = s * (1.0 + x * (1.0 - s))
    elif ACT == 2:
        d = tl.where(x > 0.0, 1.0, 0.0)
    elif ACT == 3:
        d = 0.5 * (1.0 + tl.erf(x * 0.7071067811865476)) + x * 0.3989422804014327 * tl.exp(-0.5 * x * x)
    elif ACT == 4:
        t = 2.0 * tl.sigmoid(2.0 * x) - 1.0
        d = 1.0 - t * t
    else:
        d = tl.full(x.shape, 1.0, tl.float32)
    return d


@triton.jit
def _uniform_knots(grid_ptr, offs_i, I, Q: tl.constexpr):
    """On a uniform grid: each input's first knot t_0 and 1/h (BI,), from the first two knots of its row."""
    mask_i = offs_i < I
    t0 = tl.load(grid_ptr + offs_i * Q, mask=mask_i, other=0.0)
    t1 = tl.load(grid_ptr + offs_i * Q + 1, mask=mask_i, other=1.0)
    return t0, 1.0 / (t1 - t0)


@triton.jit
def _knot_units(x, grid_ptr, offs_i, I, Q: tl.constexpr):
    """On a uniform grid: x in knot spacings from its row's first knot, u = (x - t_0) / h (BM, BI), and 1/h (BI,)."""
    t0, inv_h = _uniform_knots(grid_ptr, offs_i, I, Q)
    return (x - t0[None, :]) * inv_h[None, :], inv_h


@triton.jit
def _cardinal(w, K: tl.constexpr):
    """The cardinal B-spline of order K centred at 0, and its derivative, at signed distances w (fp32, any shape).

    Orders 2 and 3 use the truncated-power form in s = |w|, with the 1/K! folded into the two clamped terms: about 9
    operations per (input, coefficient) pair for order 3 (14 for the piecewise polynomials it replaced, about 60 for
    the general recursion).
    """
    s = tl.abs(w)
    if K == 1:  # hat function; its derivative jumps at knots, so take the right limit like Cox-de Boor
        b = tl.maximum(1.0 - s, 0.0)
        db = tl.where((w >= -1.0) & (w < 0.0), 1.0, tl.where((w >= 0.0) & (w < 1.0), -1.0, 0.0))
    else:
        if K == 2:  # 0.5 (1.5 - s)_+^2 - 1.5 (0.5 - s)_+^2
            a = tl.maximum(0.7071067811865476 * (1.5 - s), 0.0)  # sqrt(0.5) (1.5 - s)_+
            c = tl.maximum(1.224744871391589 * (0.5 - s), 0.0)  # sqrt(1.5) (0.5 - s)_+
            b = a * a - c * c
            db = 2.4494897427831780 * c - 1.4142135623730951 * a  # d/ds: 3 (0.5 - s)_+ - (1.5 - s)_+
        else:  # ((2 - s)_+^3 - 4 (1 - s)_+^3) / 6
            a = tl.maximum(0.5503212081491044 * (2.0 - s), 0.0)  # 6^(-1/3) (2 - s)_+
            c = tl.maximum(0.8735804647362989 * (1.0 - s), 0.0)  # (2/3)^(1/3) (1 - s)_+
            a2 = a * a
            c2 = c * c
            b = a2 * a - c2 * c
            db = 2.6207413942088964 * c2 - 1.6509636244473134 * a2  # d/ds: 2 (1 - s)_+^2 - 0.5 (2 - s)_+^2
        db = tl.where(w < 0, -db, db)
    return b, db


@triton.jit
def _bases_uniform(x, grid_ptr, offs_i, I, Q: tl.constexpr, CP: tl.constexpr, K: tl.constexpr):
    """Bases and derivatives on a uniform grid t_c = t_0 + c h: the cardinal B-splines (``_cardinal``) at
    u - c - (K+1)/2, u = (x - t_0)/h, with t_0 and h from the first two knots of each row: two (BM, BI, CP) tiles."""
    u, inv_h = _knot_units(x, grid_ptr, offs_i, I, Q)  # (BM, BI), (BI,)
    b, db = _cardinal(u[:, :, None] - (tl.arange(0, CP).to(tl.float32) + 0.5 * (K + 1))[None, None, :], K)
    return b, db * inv_h[None, :, None]


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
def _bases(x, grid_ptr, offs_i, I, Q: tl.constexpr, CP: tl.constexpr, K: tl.constexpr, UNIFORM: tl.constexpr):
    """Bases and derivatives of a (BM, BI) fp32 input tile: two (BM, BI, CP) fp32 tensors."""
    if UNIFORM:
        b, db = _bases_uniform(x, grid_ptr, offs_i, I, Q, CP, K)
    else:
        b, db = _bases_general(x, grid_ptr, offs_i, I, Q, CP, K)
    return b, db


# The uniform cubic bases in packed fp16 (the ``PACKED`` row kernels: bf16 layers on NVIDIA GPUs, kan_op._packed):
# PTX f16x2 instructions through ``tl.inline_asm_elementwise``, two (input, coefficient) pairs an instruction, on the
# signed distance v = u - c - 2 to each basis' centre rounded to fp16, each constant as the two halves of a register.
# The value, _cardinal's truncated-power form: 0xB867 = -6^(-1/3) and 0x3C67 = 2 * 6^(-1/3), so that
# a = 6^(-1/3) (2 - |v|)_+; 0xBAFD and 0x3AFD = -/+ (2/3)^(1/3), so that c = (2/3)^(1/3) (1 - |v|)_+; the value is
# a^3 - c^3. The derivative, twice over, from exact constants (0xBC00 = -1, 0xC000 = -2, 0x4000 = 2):
# 2 d/du = sign(v) ((2 - 2|v|)_+^2 - (2 - |v|)_+^2), 8 SASS instructions a pair against 10 for the form with
# rounded constants (the negation folds into the FMA; bench/RESULTS.md, forty-fourth session).
# tests/test_packed_bases.py runs both strings on the CPU. Each string's value is one line: inductor copies a kernel's
# globals into its generated module, where a multi-line string did not parse (bench/RESULTS.md, forty-third session).
_CUBIC_F16X2 = tl.constexpr(
    "{ .reg .b32 s, a, c, t, k0, k1, k2, k3, z; mov.b32 k0, 0xB867B867; mov.b32 k1, 0x3C673C67; "
    "mov.b32 k2, 0xBAFDBAFD; mov.b32 k3, 0x3AFD3AFD; mov.b32 z, 0; and.b32 s, $1, 0x7FFF7FFF; "
    "fma.rn.f16x2 a, s, k0, k1; max.f16x2 a, a, z; fma.rn.f16x2 c, s, k2, k3; max.f16x2 c, c, z; "
    "mul.rn.f16x2 t, c, c; mul.rn.f16x2 t, t, c; neg.f16x2 t, t; mul.rn.f16x2 s, a, a; fma.rn.f16x2 $0, s, a, t; }")
_DCUBIC2_F16X2 = tl.constexpr(
    "{ .reg .b32 s, p, q, z, sg, k1, k2, k3; mov.b32 z, 0; mov.b32 k1, 0xBC00BC00; mov.b32 k2, 0x40004000; "
    "mov.b32 k3, 0xC000C000; and.b32 s, $1, 0x7FFF7FFF; and.b32 sg, $1, 0x80008000; fma.rn.f16x2 q, s, k1, k2; "
    "max.f16x2 q, q, z; fma.rn.f16x2 p, s, k3, k2; max.f16x2 p, p, z; mul.rn.f16x2 q, q, q; neg.f16x2 q, q; "
    "fma.rn.f16x2 p, p, p, q; xor.b32 $0, p, sg; }")


@triton.jit
def _cubic_packed_at(v, DERIV: tl.constexpr):
    """The centred cubic B-spline (DERIV False) or twice its derivative (True) at signed distances v (fp32, any
    shape), in packed fp16. Against fp64 (tests/test_packed_bases.py): values (at most 2/3) off by up to 2.8e-3,
    3.9e-4 RMS, where bf16's own rounding of them is up to 2.0e-3, 6.2e-4 RMS; twice the derivative (at most 4/3),
    halved: off by up to 1.9e-3, 4.3e-4 RMS."""
    if DERIV:
        return tl.inline_asm_elementwise(_DCUBIC2_F16X2, "=r,r", [v.to(tl.float16)], dtype=tl.float16, is_pure=True,
                                         pack=2)
    return tl.inline_asm_elementwise(_CUBIC_F16X2, "=r,r", [v.to(tl.float16)], dtype=tl.float16, is_pure=True, pack=2)


@triton.jit
def _cubic_packed(x, grid_ptr, offs_i, I, Q: tl.constexpr, CP: tl.constexpr, DERIV: tl.constexpr):
    """``_cubic_packed_at`` on a (BM, BI) fp32 tile's distances to its uniform cubic bases: (BM, BI, CP) fp16 values,
    or twice the derivatives in knot spacings 2 d/du, and 1/h (BI,), by which half a sum of those derivatives over
    coefficients becomes d/dx."""
    u, inv_h = _knot_units(x, grid_ptr, offs_i, I, Q)
    return _cubic_packed_at(u[:, :, None] - (tl.arange(0, CP).to(tl.float32) + 2.0)[None, None, :], DERIV), inv_h


@triton.jit
def _spline_dx(g, x, grid_ptr, offs_i, I, Q: tl.constexpr, CP: tl.constexpr, K: tl.constexpr, UNIFORM: tl.constexpr,
               PACKED: tl.constexpr):
    """The spline part of dX (BM, BI), sum_c g[:, (i, c)] B'_c(x[:, i]), from g (BM, BI*CP) fp32 (dY W^T's spline
    columns) and the input tile x; PACKED: the derivatives from ``_cubic_packed``, 1/(2h) applied after the sum."""
    if PACKED:
        db2, inv_h = _cubic_packed(x, grid_ptr, offs_i, I, Q, CP, True)
        return tl.sum(tl.reshape(g, (x.shape[0], x.shape[1], CP)) * db2.to(tl.float32), axis=2) * (0.5 * inv_h)[None, :]
    _, db = _bases(x, grid_ptr, offs_i, I, Q, CP, K, UNIFORM)
    return tl.sum(tl.reshape(g, (x.shape[0], x.shape[1], CP)) * db, axis=2)


# The pack's and the bases kernel's programs are functions of their program ids: each kernel calls its own with its
# grid's ids, and kan_bases_pack_kernel (last in the file) calls both.


@triton.jit
def _pack_program(pid_o, pid_i, sw_ptr, sc_ptr, bw_ptr, w_ptr, wt_ptr, I, O, C, KT, CP: tl.constexpr,
                  HAS_SCALER: tl.constexpr, HAS_BASE: tl.constexpr, HAS_W: tl.constexpr, BO: tl.constexpr,
                  BI: tl.constexpr):
    """W (KT, O) and W^T (O, KT) in the compute dtype from contiguous spline_weight (O, I, C), spline_scaler and
    base_weight (O, I) at BO outputs x BI inputs; padded coefficients get zeros. Without HAS_W only W^T (the GEMM
    path's products take it and its transpose)."""
    offs_o = pid_o * BO + tl.arange(0, BO)
    offs_i = pid_i * BI + tl.arange(0, BI)
    offs_c = tl.arange(0, CP)
    m2 = (offs_o[:, None] < O) & (offs_i[None, :] < I)  # (BO, BI)
    m3 = m2[:, :, None] & (offs_c < C)[None, None, :]  # (BO, BI, CP)
    edge = offs_o[:, None] * I + offs_i[None, :]  # (BO, BI) index of edge (o, i)
    w = tl.load(sw_ptr + edge[:, :, None] * C + offs_c[None, None, :], mask=m3, other=0.0).to(tl.float32)
    if HAS_SCALER:
        w = w * tl.load(sc_ptr + edge, mask=m2, other=0.0).to(tl.float32)[:, :, None]
    w = w.to(w_ptr.dtype.element_ty)
    rows = offs_i[None, :, None] * CP + offs_c[None, None, :]  # (1, BI, CP)
    if HAS_W:
        tl.store(w_ptr + rows * O + offs_o[:, None, None], w, mask=m2[:, :, None])
    tl.store(wt_ptr + offs_o[:, None, None] * KT + rows, w, mask=m2[:, :, None])
    if HAS_BASE:
        b = tl.load(bw_ptr + edge, mask=m2, other=0.0).to(w_ptr.dtype.element_ty)
        if HAS_W:
            tl.store(w_ptr + (I * CP + offs_i[None, :]) * O + offs_o[:, None], b, mask=m2)
        tl.store(wt_ptr + offs_o[:, None] * KT + I * CP + offs_i[None, :], b, mask=m2)


@triton.jit
def kan_pack_kernel(sw_ptr, sc_ptr, bw_ptr, w_ptr, wt_ptr, I, O, C, KT, CP: tl.constexpr, HAS_SCALER: tl.constexpr,
                    HAS_BASE: tl.constexpr, HAS_W: tl.constexpr, BO: tl.constexpr, BI: tl.constexpr):
    """``_pack_program`` on the grid (output blocks, input blocks)."""
    _pack_program(tl.program_id(0), tl.program_id(1), sw_ptr, sc_ptr, bw_ptr, w_ptr, wt_ptr, I, O, C, KT, CP,
                  HAS_SCALER, HAS_BASE, HAS_W, BO, BI)


@triton.jit
def kan_unpack_kernel(part_ptr, sw_ptr, sc_ptr, dsw_ptr, dsc_ptr, db_ptr, I, O, C, S, stride_ps, CP: tl.constexpr,
                      HAS_SCALER: tl.constexpr, HAS_BASE: tl.constexpr, BO: tl.constexpr, BI: tl.constexpr):
    """Sums the S fp32 partials (S, KT, O) of dW and writes the parameter gradients (fp32, parameter layouts):
    d spline_weight = dWs * scaler, d spline_scaler = sum_c dWs * spline_weight, d base_weight = dWb^T.

    Each program owns BO outputs x BI inputs and adds the partials one (BO, BI*CP) load at a time: at every layer timed
    as CUDA graphs, the best tile loading one partial at a time was within 0.001 ms of the best tile loading several
    (bench/RESULTS.md, thirty-eighth session)."""
    offs_o = tl.program_id(0) * BO + tl.arange(0, BO)
    offs_i = tl.program_id(1) * BI + tl.arange(0, BI)
    offs_r = tl.program_id(1) * BI * CP + tl.arange(0, BI * CP)  # rows (i, c) of the spline part of dW
    mask_o = offs_o < O
    m = mask_o[:, None] & (offs_r < I * CP)[None, :]
    src = part_ptr + offs_r[None, :] * O + offs_o[:, None]  # (BO, BI*CP)
    g = tl.zeros((BO, BI * CP), dtype=tl.float32)
    for s in range(0, S):
        g += tl.load(src + s * stride_ps, mask=m, other=0.0)
    g3 = tl.reshape(g, (BO, BI, CP))
    offs_c = tl.arange(0, CP)
    m2 = mask_o[:, None] & (offs_i[None, :] < I)  # (BO, BI)
    m3 = m2[:, :, None] & (offs_c < C)[None, None, :]
    edge = offs_o[:, None] * I + offs_i[None, :]  # (BO, BI) index of edge (o, i)
    if HAS_SCALER:
        sc = tl.load(sc_ptr + edge, mask=m2, other=0.0).to(tl.float32)
        sw = tl.load(sw_ptr + edge[:, :, None] * C + offs_c[None, None, :], mask=m3, other=0.0).to(tl.float32)
        tl.store(dsc_ptr + edge, tl.sum(g3 * sw, axis=2), mask=m2)
        g3 = g3 * sc[:, :, None]
    tl.store(dsw_ptr + edge[:, :, None] * C + offs_c[None, None, :], g3, mask=m3)
    if HAS_BASE:
        src_b = part_ptr + (I * CP + offs_i[None, :]) * O + offs_o[:, None]  # (BO, BI)
        gb = tl.zeros((BO, BI), dtype=tl.float32)
        for sb in range(0, S):
            gb += tl.load(src_b + sb * stride_ps, mask=m2, other=0.0)
        tl.store(db_ptr + edge, gb, mask=m2)


@triton.jit
def kan_fwd_kernel(x_ptr, grid_ptr, w_ptr, y_ptr, M, I, O, stride_xm, stride_wk, stride_ym,
                   Q: tl.constexpr, CP: tl.constexpr, K: tl.constexpr, UNIFORM: tl.constexpr, ACT: tl.constexpr,
                   HAS_BASE: tl.constexpr, BM: tl.constexpr, BN: tl.constexpr, N2: tl.constexpr, BI: tl.constexpr,
                   BIB: tl.constexpr, PRECISION: tl.constexpr):
    """Y (M, O) = B(X) @ Ws + act(X) @ Wb, X (M, I), W (KT, O).

    Program (row block, output tile of BN). With N2 > 0 there is one output tile, in two pieces: outputs 0..BN-1 and
    BN..BN+N2-1 (powers of two, ``kan_dx_rows_kernel``'s K1 and K2), two dots on the same bases, so that a layer of
    160 = 128 + 32 outputs does not pad its dots to 256. Then the grid's axis 1 must be 1 and BN + N2 == O: pieces with
    masked columns faulted on the H200 (``kan_op._exact_pieces``)."""
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    offs_m = pid_m * BM + tl.arange(0, BM)
    offs_n = pid_n * BN + tl.arange(0, BN)
    offs_k = tl.arange(0, BI * CP)
    mask_m = offs_m[:, None] < M
    acc = tl.zeros((BM, BN), dtype=tl.float32)
    if N2 > 0:
        offs_n2 = BN + tl.arange(0, N2)
        acc2 = tl.zeros((BM, N2), dtype=tl.float32)
    for i0 in range(0, I, BI):
        offs_i = i0 + tl.arange(0, BI)
        x = _tile(x_ptr, offs_m, offs_i, stride_xm, M, I).to(tl.float32)
        b, _ = _bases(x, grid_ptr, offs_i, I, Q, CP, K, UNIFORM)
        a = tl.reshape(b, (BM, BI * CP)).to(w_ptr.dtype.element_ty)
        rows = i0 * CP + offs_k
        acc = tl.dot(a, _tile(w_ptr, rows, offs_n, stride_wk, I * CP, O), acc, input_precision=PRECISION)
        if N2 > 0:
            acc2 = tl.dot(a, _tile(w_ptr, rows, offs_n2, stride_wk, I * CP, O), acc2, input_precision=PRECISION)
    if HAS_BASE:
        wb_ptr = w_ptr + I * CP * stride_wk  # base rows
        for i0 in range(0, I, BIB):
            offs_i = i0 + tl.arange(0, BIB)
            x = _tile(x_ptr, offs_m, offs_i, stride_xm, M, I).to(tl.float32)
            a = _act(x, ACT).to(w_ptr.dtype.element_ty)  # act(0) = 0 for every ACT: masked inputs add nothing
            acc = tl.dot(a, _tile(wb_ptr, offs_i, offs_n, stride_wk, I, O), acc, input_precision=PRECISION)
            if N2 > 0:
                acc2 = tl.dot(a, _tile(wb_ptr, offs_i, offs_n2, stride_wk, I, O), acc2, input_precision=PRECISION)
    tl.store(y_ptr + offs_m[:, None] * stride_ym + offs_n[None, :], acc.to(y_ptr.dtype.element_ty),
             mask=mask_m & (offs_n[None, :] < O))
    if N2 > 0:
        tl.store(y_ptr + offs_m[:, None] * stride_ym + offs_n2[None, :], acc2.to(y_ptr.dtype.element_ty),
                 mask=mask_m & (offs_n2[None, :] < O))


@triton.jit
def kan_dx_kernel(gy_ptr, x_ptr, grid_ptr, wt_ptr, dx_ptr, M, I, O, NSB, stride_gm, stride_xm, stride_wo, stride_dm,
                  Q: tl.constexpr, CP: tl.constexpr, K: tl.constexpr, UNIFORM: tl.constexpr, ACT: tl.constexpr,
                  HAS_BASE: tl.constexpr, BASE_DOT: tl.constexpr, BM: tl.constexpr, BO: tl.constexpr,
                  BI: tl.constexpr, BIB: tl.constexpr, PRECISION: tl.constexpr):
    """dX (M, I) = sum_c B'(X) * (dY @ Ws^T) + act'(X) * (dY @ Wb^T), dY (M, O), W^T (O, KT).

    Input blocks 0..NSB-1 (``pid_i``) own BI inputs each. The base term is either a second (BM, BI) dot in those
    programs (BASE_DOT; BI >= 16) or the work of extra programs owning BIB inputs each, which, like the
    spline programs, atomically add their term to a zeroed fp32 dX: two addends per element onto 0.0,
    so the sum is the same in either order (deterministic). The grid is 1-D with the input blocks of one
    row block (``pid_m``) adjacent, so the programs sharing a dY row block run together and read it from L2."""
    nip = NSB  # programs per row block
    if HAS_BASE and not BASE_DOT:
        nip += tl.cdiv(I, BIB)
    pid_m = tl.program_id(0) // nip
    pid_i = tl.program_id(0) % nip
    offs_m = pid_m * BM + tl.arange(0, BM)
    mask_m = offs_m[:, None] < M
    if pid_i < NSB:
        offs_i = pid_i * BI + tl.arange(0, BI)
        mask_i = offs_i[None, :] < I
        cols = pid_i * BI * CP + tl.arange(0, BI * CP)
        acc = tl.zeros((BM, BI * CP), dtype=tl.float32)
        acc_b = tl.zeros((BM, BI), dtype=tl.float32)
        for o0 in range(0, O, BO):
            offs_o = o0 + tl.arange(0, BO)
            gy = _tile(gy_ptr, offs_m, offs_o, stride_gm, M, O).to(wt_ptr.dtype.element_ty)
            wt = _tile(wt_ptr, offs_o, cols, stride_wo, O, I * CP)
            acc = tl.dot(gy, wt, acc, input_precision=PRECISION)
            if HAS_BASE and BASE_DOT:
                wb = _tile(wt_ptr + I * CP, offs_o, offs_i, stride_wo, O, I)  # base columns
                acc_b = tl.dot(gy, wb, acc_b, input_precision=PRECISION)
        x = _tile(x_ptr, offs_m, offs_i, stride_xm, M, I).to(tl.float32)
        dx = _spline_dx(acc, x, grid_ptr, offs_i, I, Q, CP, K, UNIFORM, False)  # (BM, BI), fp32 derivatives
        out = dx_ptr + offs_m[:, None] * stride_dm + offs_i[None, :]
        if HAS_BASE and BASE_DOT:
            dx += acc_b * _act_grad(x, ACT)
        if HAS_BASE and not BASE_DOT:
            tl.atomic_add(out, dx, mask=mask_m & mask_i, sem="relaxed")
        else:
            tl.store(out, dx.to(dx_ptr.dtype.element_ty), mask=mask_m & mask_i)
    else:  # base programs (only launched without BASE_DOT); names differ from the branch above for Triton
        offs_b = (pid_i - NSB) * BIB + tl.arange(0, BIB)
        mask_b = offs_b[None, :] < I
        acc2 = tl.zeros((BM, BIB), dtype=tl.float32)
        for ob in range(0, O, BO):
            offs_ob = ob + tl.arange(0, BO)
            gyb = _tile(gy_ptr, offs_m, offs_ob, stride_gm, M, O).to(wt_ptr.dtype.element_ty)
            wbb = _tile(wt_ptr + I * CP, offs_ob, offs_b, stride_wo, O, I)
            acc2 = tl.dot(gyb, wbb, acc2, input_precision=PRECISION)
        xb = _tile(x_ptr, offs_m, offs_b, stride_xm, M, I).to(tl.float32)
        tl.atomic_add(dx_ptr + offs_m[:, None] * stride_dm + offs_b[None, :], acc2 * _act_grad(xb, ACT),
                      mask=mask_m & mask_b, sem="relaxed")


@triton.jit
def kan_dx_rows_kernel(gy_ptr, x_ptr, grid_ptr, wt_ptr, dx_ptr, M, I, O, stride_gm, stride_xm, stride_wo, stride_dm,
                       Q: tl.constexpr, CP: tl.constexpr, K: tl.constexpr, UNIFORM: tl.constexpr, ACT: tl.constexpr,
                       HAS_BASE: tl.constexpr, BM: tl.constexpr, BI: tl.constexpr, K1: tl.constexpr,
                       K2: tl.constexpr, PRECISION: tl.constexpr, PACKED: tl.constexpr):
    """dX (M, I) as ``kan_dx_kernel`` computes it (base term as a dot), with W^T's columns read once a program.

    Program (input block ``pid_i``, split ``pid_s``) loads its BI inputs' columns of W^T, spline and base, before its
    rows and keeps them for every row block pid_s, pid_s + S, ... (S splits): the rows read only dY, X and write dX.
    The output axis is two static pieces, K1 (the largest power of two <= O, at least 16) and K2 (0, or a power of two
    >= O - K1, at least 16), so that both dots are whole tiles. The spline columns are held coefficient-major (column
    c * BI + i of the block), so that each thread of the dot's accumulator holds all CP coefficients of its (row,
    input) pairs and sums them itself. On a uniform grid the inputs' knots are read once a program and the distances
    to the bases' centres are one FMA a (row, input, coefficient). PACKED: the uniform cubic bases' derivatives in
    packed fp16 (``_cubic_packed_at``)."""
    pid_i = tl.program_id(0)
    offs_i = pid_i * BI + tl.arange(0, BI)
    mask_i = offs_i[None, :] < I
    n = tl.arange(0, BI * CP)
    cols = pid_i * BI * CP + (n % BI) * CP + n // BI
    o1 = tl.arange(0, K1)
    w1 = _tile(wt_ptr, o1, cols, stride_wo, O, I * CP)  # (K1, BI*CP), held for all rows
    if HAS_BASE:
        wb1 = _tile(wt_ptr + I * CP, o1, offs_i, stride_wo, O, I)  # base columns
    if K2 > 0:
        o2 = K1 + tl.arange(0, K2)
        w2 = _tile(wt_ptr, o2, cols, stride_wo, O, I * CP)
        if HAS_BASE:
            wb2 = _tile(wt_ptr + I * CP, o2, offs_i, stride_wo, O, I)
    if UNIFORM:  # v = x / h - (t_0 / h + c + (K+1)/2), the distance of u = (x - t_0) / h to basis c's centre
        t0, inv_h = _uniform_knots(grid_ptr, offs_i, I, Q)
        centre = (t0 * inv_h)[None, :] + (tl.arange(0, CP).to(tl.float32) + 0.5 * (K + 1))[:, None]  # (CP, BI)
    for m0 in range(tl.program_id(1) * BM, M, tl.num_programs(1) * BM):
        offs_m = m0 + tl.arange(0, BM)
        mask_m = offs_m[:, None] < M
        x = _tile(x_ptr, offs_m, offs_i, stride_xm, M, I).to(tl.float32)  # issued before the dots, used after them
        gy1 = _tile(gy_ptr, offs_m, o1, stride_gm, M, O).to(wt_ptr.dtype.element_ty)
        acc = tl.dot(gy1, w1, input_precision=PRECISION)
        if HAS_BASE:
            acc_b = tl.dot(gy1, wb1, input_precision=PRECISION)
        if K2 > 0:
            gy2 = _tile(gy_ptr, offs_m, o2, stride_gm, M, O).to(wt_ptr.dtype.element_ty)
            acc = tl.dot(gy2, w2, acc, input_precision=PRECISION)
            if HAS_BASE:
                acc_b = tl.dot(gy2, wb2, acc_b, input_precision=PRECISION)
        g = tl.reshape(acc, (BM, CP, BI))
        if UNIFORM:
            v = x[:, None, :] * inv_h[None, None, :] - centre[None, :, :]  # (BM, CP, BI)
            if PACKED:
                dx = tl.sum(g * _cubic_packed_at(v, True).to(tl.float32), axis=1) * (0.5 * inv_h)[None, :]
            else:
                _, db = _cardinal(v, K)
                dx = tl.sum(g * db, axis=1) * inv_h[None, :]
        else:
            _, db = _bases_general(x, grid_ptr, offs_i, I, Q, CP, K)
            dx = tl.sum(g * tl.permute(db, (0, 2, 1)), axis=1)
        if HAS_BASE:
            dx += acc_b * _act_grad(x, ACT)
        tl.store(dx_ptr + offs_m[:, None] * stride_dm + offs_i[None, :], dx.to(dx_ptr.dtype.element_ty),
                 mask=mask_m & mask_i)


@triton.jit
def kan_dw_kernel(gy_ptr, x_ptr, grid_ptr, part_ptr, M, I, O, NSB, stride_gm, stride_xm, stride_pk, stride_ps,
                  Q: tl.constexpr, CP: tl.constexpr, K: tl.constexpr, UNIFORM: tl.constexpr, ACT: tl.constexpr,
                  BM: tl.constexpr, BN: tl.constexpr, N2: tl.constexpr, BI: tl.constexpr, BIB: tl.constexpr,
                  SPLIT: tl.constexpr, PRECISION: tl.constexpr):
    """partial[s] (KT, O) = [B(X), act(X)][rows of split s]^T @ dY[rows of split s].

    Programs 0..NSB-1 of axis 0 own BI inputs' spline rows; the ones after own BIB inputs' base rows. Axis 1 is the
    output tiles of BN, or with N2 > 0 one tile in two pieces, as in ``kan_fwd_kernel`` (axis 1 then 1, and
    BN + N2 == O)."""
    pid_i = tl.program_id(0)
    pid_n = tl.program_id(1)
    pid_s = tl.program_id(2)
    offs_n = pid_n * BN + tl.arange(0, BN)
    mask_n = offs_n[None, :] < O
    if pid_i < NSB:
        offs_i = pid_i * BI + tl.arange(0, BI)
        acc = tl.zeros((BI * CP, BN), dtype=tl.float32)
        if N2 > 0:
            offs_n2 = BN + tl.arange(0, N2)
            acc2 = tl.zeros((BI * CP, N2), dtype=tl.float32)
        for m0 in range(pid_s * BM, M, SPLIT * BM):
            offs_m = m0 + tl.arange(0, BM)
            x = _tile(x_ptr, offs_m, offs_i, stride_xm, M, I).to(tl.float32)
            gy = _tile(gy_ptr, offs_m, offs_n, stride_gm, M, O)
            b, _ = _bases(x, grid_ptr, offs_i, I, Q, CP, K, UNIFORM)
            bt = tl.trans(tl.reshape(b, (BM, BI * CP))).to(gy.dtype)  # (BI*CP, BM)
            acc = tl.dot(bt, gy, acc, input_precision=PRECISION)
            if N2 > 0:
                acc2 = tl.dot(bt, _tile(gy_ptr, offs_m, offs_n2, stride_gm, M, O), acc2, input_precision=PRECISION)
        rows = pid_i * BI * CP + tl.arange(0, BI * CP)
        out = part_ptr + pid_s * stride_ps + rows[:, None] * stride_pk
        tl.store(out + offs_n[None, :], acc, mask=(rows[:, None] < I * CP) & mask_n)
        if N2 > 0:
            tl.store(out + offs_n2[None, :], acc2, mask=(rows[:, None] < I * CP) & (offs_n2[None, :] < O))
    else:  # names differ from the branch above: Triton wants one type per name across an if/else
        offs_b = (pid_i - NSB) * BIB + tl.arange(0, BIB)
        acc_b = tl.zeros((BIB, BN), dtype=tl.float32)
        if N2 > 0:
            offs_nb2 = BN + tl.arange(0, N2)
            acc_b2 = tl.zeros((BIB, N2), dtype=tl.float32)
        for mb in range(pid_s * BM, M, SPLIT * BM):
            offs_mb = mb + tl.arange(0, BM)
            xb = _tile(x_ptr, offs_mb, offs_b, stride_xm, M, I).to(tl.float32)
            gyb = _tile(gy_ptr, offs_mb, offs_n, stride_gm, M, O)
            at = tl.trans(_act(xb, ACT).to(gyb.dtype))  # (BIB, BM)
            acc_b = tl.dot(at, gyb, acc_b, input_precision=PRECISION)
            if N2 > 0:
                acc_b2 = tl.dot(at, _tile(gy_ptr, offs_mb, offs_nb2, stride_gm, M, O), acc_b2,
                                input_precision=PRECISION)
        out_b = part_ptr + pid_s * stride_ps + (I * CP + offs_b)[:, None] * stride_pk
        tl.store(out_b + offs_n[None, :], acc_b, mask=(offs_b[:, None] < I) & mask_n)
        if N2 > 0:
            tl.store(out_b + offs_nb2[None, :], acc_b2, mask=(offs_b[:, None] < I) & (offs_nb2[None, :] < O))


# The GEMM path (``vkan.ops.kan_op``): on wide layers cuBLAS runs the three products of a layer faster than the fused
# kernels' Triton matmul loops, so there the bases are written to memory once and the products are torch.mm calls.
# These two kernels are that path's own work: the operand A = [B(X), act(X)] and the input grad's last step; the
# forward launches the first with the pack (``kan_bases_pack_kernel``, last in the file).


@triton.jit
def _bases_program(pid_m, pid_i, x_ptr, grid_ptr, a_ptr, M, I, stride_xm, stride_am, Q: tl.constexpr,
                   CP: tl.constexpr, K: tl.constexpr, UNIFORM: tl.constexpr, ACT: tl.constexpr,
                   HAS_BASE: tl.constexpr, BM: tl.constexpr, BI: tl.constexpr, PACKED: tl.constexpr):
    """A (M, KT) = [B(X) with columns (i, c), act(X)]: the rows that the fused kernels evaluate in registers, in
    A's dtype; X (M, I). Program (row block, input block). PACKED: the uniform cubic bases in packed fp16
    (``_cubic_packed``)."""
    offs_m = pid_m * BM + tl.arange(0, BM)
    offs_i = pid_i * BI + tl.arange(0, BI)
    cols = pid_i * BI * CP + tl.arange(0, BI * CP)
    mask_m = offs_m[:, None] < M
    x = _tile(x_ptr, offs_m, offs_i, stride_xm, M, I).to(tl.float32)
    if PACKED:
        b, _ = _cubic_packed(x, grid_ptr, offs_i, I, Q, CP, False)
    else:
        b, _ = _bases(x, grid_ptr, offs_i, I, Q, CP, K, UNIFORM)
    row = a_ptr + offs_m.to(tl.int64)[:, None] * stride_am  # A may hold 2^31 elements or more
    tl.store(row + cols[None, :], tl.reshape(b, (BM, BI * CP)).to(a_ptr.dtype.element_ty),
             mask=mask_m & (cols[None, :] < I * CP))
    if HAS_BASE:
        tl.store(row + I * CP + offs_i[None, :], _act(x, ACT).to(a_ptr.dtype.element_ty),
                 mask=mask_m & (offs_i[None, :] < I))


@triton.jit
def kan_bases_kernel(x_ptr, grid_ptr, a_ptr, M, I, stride_xm, stride_am, Q: tl.constexpr, CP: tl.constexpr,
                     K: tl.constexpr, UNIFORM: tl.constexpr, ACT: tl.constexpr, HAS_BASE: tl.constexpr,
                     BM: tl.constexpr, BI: tl.constexpr, PACKED: tl.constexpr):
    """``_bases_program`` on the grid (row blocks, input blocks)."""
    _bases_program(tl.program_id(0), tl.program_id(1), x_ptr, grid_ptr, a_ptr, M, I, stride_xm, stride_am, Q, CP, K,
                   UNIFORM, ACT, HAS_BASE, BM, BI, PACKED)


@triton.jit
def kan_dx_bases_kernel(da_ptr, x_ptr, grid_ptr, dx_ptr, M, I, stride_dam, stride_xm, stride_dm, Q: tl.constexpr,
                        CP: tl.constexpr, K: tl.constexpr, UNIFORM: tl.constexpr, ACT: tl.constexpr,
                        HAS_BASE: tl.constexpr, BM: tl.constexpr, BI: tl.constexpr, PACKED: tl.constexpr):
    """dX (M, I) = sum_c B'_c(X) * dA[:, (i, c)] + act'(X) * dA[:, KT - I + i], from dA = dY @ W^T (M, KT).

    dA's loads come first, before X's bases are evaluated: 4.5-7.4% less time on the H200 at six ViT layer shapes, the
    same results (bench/row_kernels.py; bench/RESULTS.md, twenty-ninth session). PACKED: the uniform cubic bases'
    derivatives in packed fp16 (``_cubic_packed``)."""
    offs_m = tl.program_id(0) * BM + tl.arange(0, BM)
    offs_i = tl.program_id(1) * BI + tl.arange(0, BI)
    cols = tl.program_id(1) * BI * CP + tl.arange(0, BI * CP)
    mask_m = offs_m[:, None] < M
    mask_i = offs_i[None, :] < I
    row = da_ptr + offs_m.to(tl.int64)[:, None] * stride_dam  # as large as A
    da = tl.load(row + cols[None, :], mask=mask_m & (cols[None, :] < I * CP), other=0.0)
    if HAS_BASE:
        da_b = tl.load(row + I * CP + offs_i[None, :], mask=mask_m & mask_i, other=0.0)
    x = _tile(x_ptr, offs_m, offs_i, stride_xm, M, I).to(tl.float32)
    dx = _spline_dx(da.to(tl.float32), x, grid_ptr, offs_i, I, Q, CP, K, UNIFORM, PACKED)
    if HAS_BASE:
        dx += da_b.to(tl.float32) * _act_grad(x, ACT)
    tl.store(dx_ptr + offs_m[:, None] * stride_dm + offs_i[None, :], dx.to(dx_ptr.dtype.element_ty),
             mask=mask_m & mask_i)


@triton.jit
def _ids(q, n0):
    """The two program ids of flat program q of a grid with n0 programs along its first axis (that axis fastest)."""
    return q % n0, q // n0


# Co-launch: a layer's pack moves about a megabyte, in a few microseconds that are mostly a launch's fixed cost. On the
# GEMM path its programs run in front of the bases kernel's, in one launch of both kernels' own programs (the grids
# flattened), so W^T and A are the separate launches' bit for bit and a step has one launch a layer fewer. The forward
# (pack, bases, product) took 0.0012-0.0022 ms less at ViT-tiny/4's and ViT-S/16's fc1 and fc2 on the H200. The
# unpack in the input grad's launch measured no faster: at their fc2 within 0.001 ms of the separate launches, at their
# fc1 (held columns) 0.001 and 0.014 ms slower (bench/RESULTS.md, forty-sixth session).


@triton.jit
def kan_bases_pack_kernel(x_ptr, grid_ptr, a_ptr, sw_ptr, sc_ptr, bw_ptr, wt_ptr, M, I, O, C, KT, stride_xm, stride_am,
                          NP, Q: tl.constexpr, CP: tl.constexpr, K: tl.constexpr, UNIFORM: tl.constexpr,
                          ACT: tl.constexpr, HAS_SCALER: tl.constexpr, HAS_BASE: tl.constexpr, BM: tl.constexpr,
                          BI: tl.constexpr, PO: tl.constexpr, PI: tl.constexpr, PACKED: tl.constexpr):
    """``kan_bases_kernel`` and ``kan_pack_kernel`` (W^T only, PO outputs x PI inputs) in one launch of NP + (row
    blocks x input blocks) programs."""
    pid = tl.program_id(0)
    if pid < NP:
        pid_o, pid_i = _ids(pid, tl.cdiv(O, PO))
        _pack_program(pid_o, pid_i, sw_ptr, sc_ptr, bw_ptr, wt_ptr, wt_ptr, I, O, C, KT, CP, HAS_SCALER, HAS_BASE,
                      False, PO, PI)
    else:
        pid_m, pid_i = _ids(pid - NP, tl.cdiv(M, BM))
        _bases_program(pid_m, pid_i, x_ptr, grid_ptr, a_ptr, M, I, stride_xm, stride_am, Q, CP, K, UNIFORM, ACT,
                       HAS_BASE, BM, BI, PACKED)
