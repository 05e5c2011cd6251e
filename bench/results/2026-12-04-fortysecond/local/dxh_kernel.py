"""Experiment kernel: kan_dx_rows_kernel (uniform grid, order 3, base term as a dot) with the bases' derivatives
evaluated four ways (MODE): 0 as shipped; 1 with 1/h applied once an input after the sum over coefficients instead
of once a coefficient; 2 as 1, the truncated powers in fp16 arithmetic (two values an instruction where the compiler
packs them), the signed distance to each basis' centre still in fp32; 3 as 2, packed by hand: PTX f16x2 instructions
through ``tl.inline_asm_elementwise``, two derivatives an instruction (no CPU interpreter for it). ``dxh_kernel``
takes the mode; ``kan_dx_rows_h2_kernel`` is mode 3 with the shipped kernel's parameters."""
import triton
import triton.language as tl
from vkan.ops.triton_kan import _tile, _act_grad, _bases


@triton.jit
def _dcubic(x, grid_ptr, offs_i, I, Q: tl.constexpr, CP: tl.constexpr, HALF: tl.constexpr):
    """Derivatives of the uniform cubic bases in units of the knot spacing (d/du), and 1/h per input."""
    mask_i = offs_i < I
    t0 = tl.load(grid_ptr + offs_i * Q, mask=mask_i, other=0.0)
    t1 = tl.load(grid_ptr + offs_i * Q + 1, mask=mask_i, other=1.0)
    inv_h = 1.0 / (t1 - t0)
    u = (x - t0[None, :]) * inv_h[None, :]
    offs_c = tl.arange(0, CP).to(tl.float32)
    side = u[:, :, None] - (offs_c + 2.0)[None, None, :]
    if HALF == 2:
        db = tl.inline_asm_elementwise(_DCUBIC_F16X2, "=r,r", [side.to(tl.float16)], dtype=tl.float16,
                                       is_pure=True, pack=2)
        return db.to(tl.float32), inv_h
    if HALF == 1:
        side = side.to(tl.float16)
    s = tl.abs(side)
    a = tl.maximum(0.5503212081491044 * (2.0 - s), 0.0)
    c = tl.maximum(0.8735804647362989 * (1.0 - s), 0.0)
    db = 2.6207413942088964 * (c * c) - 1.6509636244473134 * (a * a)
    db = tl.where(side < 0, -db, db)
    return db.to(tl.float32), inv_h


# d/du of the centred cubic B-spline at two fp16 distances v packed in $1, sign(v) (2 (1 - |v|)_+^2 - (2 - |v|)_+^2 / 2),
# as _bases_uniform evaluates it: a = 6^(-1/3) (2 - s)_+, c = (2/3)^(1/3) (1 - s)_+, 2.6207 c^2 - 1.6510 a^2; the fp16
# constants are those values rounded, each half of a register the same
_DCUBIC_F16X2 = tl.constexpr(  # one line: inductor copies a kernel's globals into its generated code, where a
    # multi-line string broke (forty-third session)
    "{ .reg .b32 s, a, c, k0, k1, k2, k3, k4, k5, z, sg; mov.b32 k0, 0xB867B867; mov.b32 k1, 0x3C673C67; "
    "mov.b32 k2, 0xBAFDBAFD; mov.b32 k3, 0x3AFD3AFD; mov.b32 k4, 0xBE9BBE9B; mov.b32 k5, 0x413E413E; "
    "mov.b32 z, 0; and.b32 s, $1, 0x7FFF7FFF; and.b32 sg, $1, 0x80008000; fma.rn.f16x2 a, s, k0, k1; "
    "max.f16x2 a, a, z; fma.rn.f16x2 c, s, k2, k3; max.f16x2 c, c, z; mul.rn.f16x2 a, a, a; "
    "mul.rn.f16x2 c, c, c; mul.rn.f16x2 a, a, k4; fma.rn.f16x2 a, c, k5, a; xor.b32 $0, a, sg; }")


@triton.jit
def _dx_rows(gy_ptr, x_ptr, grid_ptr, wt_ptr, dx_ptr, M, I, O, stride_gm, stride_xm, stride_wo, stride_dm,
             Q: tl.constexpr, CP: tl.constexpr, ACT: tl.constexpr, BM: tl.constexpr, BI: tl.constexpr,
             K1: tl.constexpr, K2: tl.constexpr, PRECISION: tl.constexpr, MODE: tl.constexpr):
    """``kan_dx_rows_kernel``'s program (base term as a dot) with the derivatives evaluated as MODE says."""
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
        if MODE == 0:
            _, db = _bases(x, grid_ptr, offs_i, I, Q, CP, 3, True)
            dx = tl.sum(tl.reshape(acc, (BM, BI, CP)) * db, axis=2)
        else:
            db, inv_h = _dcubic(x, grid_ptr, offs_i, I, Q, CP, MODE - 1)
            dx = tl.sum(tl.reshape(acc, (BM, BI, CP)) * db, axis=2) * inv_h[None, :]
        dx += acc_b * _act_grad(x, ACT)
        tl.store(dx_ptr + offs_m[:, None] * stride_dm + offs_i[None, :], dx.to(dx_ptr.dtype.element_ty),
                 mask=mask_m & mask_i)


@triton.jit
def dxh_kernel(gy_ptr, x_ptr, grid_ptr, wt_ptr, dx_ptr, M, I, O, stride_gm, stride_xm, stride_wo, stride_dm,
               Q: tl.constexpr, CP: tl.constexpr, ACT: tl.constexpr, BM: tl.constexpr, BI: tl.constexpr,
               K1: tl.constexpr, K2: tl.constexpr, MODE: tl.constexpr):
    """The four modes, for ``exp_dxh.py``."""
    _dx_rows(gy_ptr, x_ptr, grid_ptr, wt_ptr, dx_ptr, M, I, O, stride_gm, stride_xm, stride_wo, stride_dm, Q, CP, ACT,
             BM, BI, K1, K2, "tf32", MODE)


@triton.jit
def kan_dx_rows_h2_kernel(gy_ptr, x_ptr, grid_ptr, wt_ptr, dx_ptr, M, I, O, stride_gm, stride_xm, stride_wo, stride_dm,
                          Q: tl.constexpr, CP: tl.constexpr, K: tl.constexpr, UNIFORM: tl.constexpr,
                          ACT: tl.constexpr, HAS_BASE: tl.constexpr, BM: tl.constexpr, BI: tl.constexpr,
                          K1: tl.constexpr, K2: tl.constexpr, PRECISION: tl.constexpr):
    """Mode 3 with ``kan_dx_rows_kernel``'s own parameters (uniform grid, order 3, base branch only), so that
    ``exp_dxh_model.py`` can bind it through the shipped launcher's geometry."""
    tl.static_assert(K == 3 and UNIFORM and HAS_BASE)
    _dx_rows(gy_ptr, x_ptr, grid_ptr, wt_ptr, dx_ptr, M, I, O, stride_gm, stride_xm, stride_wo, stride_dm, Q, CP, ACT,
             BM, BI, K1, K2, PRECISION, 3)
