"""Experiment kernels (forty-third session), the GEMM path's two row kernels and the held-columns input grad with the
cubic bases' arithmetic done other ways. Uniform grid, order 3, base branch (SiLU), as ViT-tiny's layers run them.

``bases_exp_kernel`` (A = [B(X), act(X)], bf16), MODE: 0 as shipped; 1 no basis arithmetic (each element u - c,
the store's floor); 2 the bases' values in PTX f16x2, two an instruction (``_CUBIC_F16X2``); 3 as shipped, A's basis
columns written through a tensor descriptor (TMA store; needs ``triton.set_allocator``).
``dxb_exp_kernel`` (dX from dA), MODE: 0 as shipped; 1 the derivatives in units of the knot spacing and 1/h applied
once an input after the sum; 2 as 1 in PTX f16x2 (``dxh_kernel._dcubic``).
``kan_dx_rows_m1_kernel`` and ``kan_dx_bases_h2_kernel``: the forty-second session's mode 1 of the held-columns input
grad, and mode 2 of the above, with the shipped kernels' parameters (for the model A/B, ``exp_model.py``)."""
import triton
import triton.language as tl
from vkan.ops.triton_kan import _tile, _act, _act_grad, _bases
from dxh_kernel import _dcubic, _dx_rows

# the centred cubic B-spline at two fp16 distances v packed in $1: a^3 - c^3 with a = 6^(-1/3) (2 - |v|)_+ and
# c = (2/3)^(1/3) (1 - |v|)_+, the constants of dxh_kernel._DCUBIC_F16X2
_CUBIC_F16X2 = tl.constexpr(  # one line: inductor copies a kernel's globals into its generated code, where a
    # multi-line string broke (forty-third session)
    "{ .reg .b32 s, a, c, t, k0, k1, k2, k3, z; mov.b32 k0, 0xB867B867; mov.b32 k1, 0x3C673C67; "
    "mov.b32 k2, 0xBAFDBAFD; mov.b32 k3, 0x3AFD3AFD; mov.b32 z, 0; and.b32 s, $1, 0x7FFF7FFF; "
    "fma.rn.f16x2 a, s, k0, k1; max.f16x2 a, a, z; fma.rn.f16x2 c, s, k2, k3; max.f16x2 c, c, z; "
    "mul.rn.f16x2 t, c, c; mul.rn.f16x2 t, t, c; neg.f16x2 t, t; mul.rn.f16x2 s, a, a; "
    "fma.rn.f16x2 $0, s, a, t; }")


@triton.jit
def _cubic_h2(x, grid_ptr, offs_i, I, Q: tl.constexpr, CP: tl.constexpr):
    mask_i = offs_i < I
    t0 = tl.load(grid_ptr + offs_i * Q, mask=mask_i, other=0.0)
    t1 = tl.load(grid_ptr + offs_i * Q + 1, mask=mask_i, other=1.0)
    u = (x - t0[None, :]) * (1.0 / (t1 - t0))[None, :]
    side = u[:, :, None] - (tl.arange(0, CP).to(tl.float32) + 2.0)[None, None, :]
    return tl.inline_asm_elementwise(_CUBIC_F16X2, "=r,r", [side.to(tl.float16)], dtype=tl.float16, is_pure=True,
                                     pack=2)


@triton.jit
def _bases_rows(x_ptr, grid_ptr, a_ptr, M, I, stride_xm, stride_am, Q: tl.constexpr, CP: tl.constexpr,
                ACT: tl.constexpr, BM: tl.constexpr, BI: tl.constexpr, MODE: tl.constexpr):
    offs_m = tl.program_id(0) * BM + tl.arange(0, BM)
    offs_i = tl.program_id(1) * BI + tl.arange(0, BI)
    cols = tl.program_id(1) * BI * CP + tl.arange(0, BI * CP)
    mask_m = offs_m[:, None] < M
    x = _tile(x_ptr, offs_m, offs_i, stride_xm, M, I).to(tl.float32)
    if MODE == 1:
        b = x[:, :, None] - tl.arange(0, CP).to(tl.float32)[None, None, :]
    elif MODE == 2:
        b = _cubic_h2(x, grid_ptr, offs_i, I, Q, CP)
    else:
        b, _ = _bases(x, grid_ptr, offs_i, I, Q, CP, 3, True)
    a = tl.reshape(b, (BM, BI * CP)).to(a_ptr.dtype.element_ty)
    row = a_ptr + offs_m.to(tl.int64)[:, None] * stride_am
    if MODE == 3:
        desc = tl.make_tensor_descriptor(a_ptr, shape=[M, I * CP], strides=[stride_am, 1], block_shape=[BM, BI * CP])
        desc.store([tl.program_id(0) * BM, tl.program_id(1) * BI * CP], a)
    else:
        tl.store(row + cols[None, :], a, mask=mask_m & (cols[None, :] < I * CP))
    tl.store(row + I * CP + offs_i[None, :], _act(x, ACT).to(a_ptr.dtype.element_ty),
             mask=mask_m & (offs_i[None, :] < I))


@triton.jit
def bases_exp_kernel(x_ptr, grid_ptr, a_ptr, M, I, stride_xm, stride_am, Q: tl.constexpr, CP: tl.constexpr,
                     ACT: tl.constexpr, BM: tl.constexpr, BI: tl.constexpr, MODE: tl.constexpr):
    _bases_rows(x_ptr, grid_ptr, a_ptr, M, I, stride_xm, stride_am, Q, CP, ACT, BM, BI, MODE)


@triton.jit
def _dx_bases(da_ptr, x_ptr, grid_ptr, dx_ptr, M, I, stride_dam, stride_xm, stride_dm, Q: tl.constexpr,
              CP: tl.constexpr, ACT: tl.constexpr, BM: tl.constexpr, BI: tl.constexpr, MODE: tl.constexpr):
    offs_m = tl.program_id(0) * BM + tl.arange(0, BM)
    offs_i = tl.program_id(1) * BI + tl.arange(0, BI)
    cols = tl.program_id(1) * BI * CP + tl.arange(0, BI * CP)
    mask_m = offs_m[:, None] < M
    mask_i = offs_i[None, :] < I
    row = da_ptr + offs_m.to(tl.int64)[:, None] * stride_dam
    da = tl.load(row + cols[None, :], mask=mask_m & (cols[None, :] < I * CP), other=0.0)
    da_b = tl.load(row + I * CP + offs_i[None, :], mask=mask_m & mask_i, other=0.0)
    x = _tile(x_ptr, offs_m, offs_i, stride_xm, M, I).to(tl.float32)
    if MODE == 0:
        _, db = _bases(x, grid_ptr, offs_i, I, Q, CP, 3, True)
        dx = tl.sum(tl.reshape(da.to(tl.float32), (BM, BI, CP)) * db, axis=2)
    else:
        db, inv_h = _dcubic(x, grid_ptr, offs_i, I, Q, CP, 2 * (MODE - 1))
        dx = tl.sum(tl.reshape(da.to(tl.float32), (BM, BI, CP)) * db, axis=2) * inv_h[None, :]
    dx += da_b.to(tl.float32) * _act_grad(x, ACT)
    tl.store(dx_ptr + offs_m[:, None] * stride_dm + offs_i[None, :], dx.to(dx_ptr.dtype.element_ty),
             mask=mask_m & mask_i)


@triton.jit
def dxb_exp_kernel(da_ptr, x_ptr, grid_ptr, dx_ptr, M, I, stride_dam, stride_xm, stride_dm, Q: tl.constexpr,
                   CP: tl.constexpr, ACT: tl.constexpr, BM: tl.constexpr, BI: tl.constexpr, MODE: tl.constexpr):
    _dx_bases(da_ptr, x_ptr, grid_ptr, dx_ptr, M, I, stride_dam, stride_xm, stride_dm, Q, CP, ACT, BM, BI, MODE)


@triton.jit
def kan_dx_bases_h2_kernel(da_ptr, x_ptr, grid_ptr, dx_ptr, M, I, stride_dam, stride_xm, stride_dm, Q: tl.constexpr,
                           CP: tl.constexpr, K: tl.constexpr, UNIFORM: tl.constexpr, ACT: tl.constexpr,
                           HAS_BASE: tl.constexpr, BM: tl.constexpr, BI: tl.constexpr):
    tl.static_assert(K == 3 and UNIFORM and HAS_BASE)
    _dx_bases(da_ptr, x_ptr, grid_ptr, dx_ptr, M, I, stride_dam, stride_xm, stride_dm, Q, CP, ACT, BM, BI, 2)


@triton.jit
def kan_dx_rows_m1_kernel(gy_ptr, x_ptr, grid_ptr, wt_ptr, dx_ptr, M, I, O, stride_gm, stride_xm, stride_wo, stride_dm,
                          Q: tl.constexpr, CP: tl.constexpr, K: tl.constexpr, UNIFORM: tl.constexpr,
                          ACT: tl.constexpr, HAS_BASE: tl.constexpr, BM: tl.constexpr, BI: tl.constexpr,
                          K1: tl.constexpr, K2: tl.constexpr, PRECISION: tl.constexpr):
    tl.static_assert(K == 3 and UNIFORM and HAS_BASE)
    _dx_rows(gy_ptr, x_ptr, grid_ptr, wt_ptr, dx_ptr, M, I, O, stride_gm, stride_xm, stride_wo, stride_dm, Q, CP, ACT,
             BM, BI, K1, K2, PRECISION, 1)


@triton.jit
def kan_bases_h2_kernel(x_ptr, grid_ptr, a_ptr, M, I, stride_xm, stride_am, Q: tl.constexpr, CP: tl.constexpr,
                        K: tl.constexpr, UNIFORM: tl.constexpr, ACT: tl.constexpr, HAS_BASE: tl.constexpr,
                        BM: tl.constexpr, BI: tl.constexpr):
    tl.static_assert(K == 3 and UNIFORM and HAS_BASE)
    _bases_rows(x_ptr, grid_ptr, a_ptr, M, I, stride_xm, stride_am, Q, CP, ACT, BM, BI, 2)
