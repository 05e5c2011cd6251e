"""The held-columns input grad (``kan_dx_rows_kernel``) with less work in its row loop, for the forty-fourth session's
offline probes and the next device run. MODE:

0. as shipped (the row loop loads t_0 and t_1 and divides for 1/h at every row block);
1. t_0 and 1/h of the program's inputs once, before the row loop (packed: the same arithmetic; fp32: 1/h applied after
   the sum over coefficients, as the packed form does);
2. as 1, and W^T's held columns in coefficient-major order within the program's block (column c * BI + i instead of
   i * CP + c), so that each thread of the dot's accumulator holds all CP coefficients of its (row, input) pairs and
   the sum over coefficients stays in the thread (no shuffles across lanes);
3. as 2, and v = u - c - 2 from one FMA of x: v = x / h + (-(t_0 / h) - c - 2), the offsets once before the loop;
4. as 3, the packed derivatives through dcubic2.py's ``DCUBIC2_F16X2`` (twice the derivative from exact constants, 8
   SASS instructions a pair against 10, more accurate), the 1/2 folded into 1/h after the sum.

Modes 1-4 are for a uniform cubic grid (a static assertion says so); their packed derivatives use dcubic2.py's copies of
the PTX strings (the one shipped until now for modes 1-3), so they keep their meaning once dx_rows_mode4.patch changes
the shipped one; mode 0 is whatever ``triton_kan`` ships. ``swap_in(mode)``: the kan_op attributes that put a mode
in the shipped launcher's place, for a model A/B (exp_dx_rows_model.py). Names are imported one by one: inductor copies
a user kernel's globals into its generated code."""
import triton
import triton.language as tl

import dcubic2
from vkan.ops import kan_op
from vkan.ops.launch import Launcher
from vkan.ops.triton_kan import _act_grad, _spline_dx, _tile

DCUBIC_F16X2 = tl.constexpr(dcubic2.DCUBIC_F16X2)  # values of one line each (inductor copies a kernel's globals)
DCUBIC2_F16X2 = tl.constexpr(dcubic2.DCUBIC2_F16X2)


@triton.jit
def _dcubic(v, PACKED: tl.constexpr, TWICE: tl.constexpr = False):
    """Derivatives d/du of the uniform cubic bases at signed distances v (fp32) from their centres, as fp32: through
    the PTX string shipped until now in packed fp16 (PACKED), else _bases_uniform's order-3 arithmetic in fp32; TWICE
    (packed only): twice the derivatives, through DCUBIC2_F16X2."""
    if PACKED and TWICE:
        db = tl.inline_asm_elementwise(DCUBIC2_F16X2, "=r,r", [v.to(tl.float16)], dtype=tl.float16, is_pure=True,
                                       pack=2).to(tl.float32)
    elif PACKED:
        db = tl.inline_asm_elementwise(DCUBIC_F16X2, "=r,r", [v.to(tl.float16)], dtype=tl.float16, is_pure=True,
                                       pack=2).to(tl.float32)
    else:
        s = tl.abs(v)
        a = tl.maximum(0.5503212081491044 * (2.0 - s), 0.0)
        c = tl.maximum(0.8735804647362989 * (1.0 - s), 0.0)
        db = 2.6207413942088964 * (c * c) - 1.6509636244473134 * (a * a)
        db = tl.where(v < 0, -db, db)
    return db


@triton.jit
def dx_rows_exp_program(pid_i, pid_s, NS, gy_ptr, x_ptr, grid_ptr, wt_ptr, dx_ptr, M, I, O, stride_gm, stride_xm,
                        stride_wo, stride_dm, Q: tl.constexpr, CP: tl.constexpr, K: tl.constexpr,
                        UNIFORM: tl.constexpr, ACT: tl.constexpr, HAS_BASE: tl.constexpr, BM: tl.constexpr,
                        BI: tl.constexpr, K1: tl.constexpr, K2: tl.constexpr, PRECISION: tl.constexpr,
                        PACKED: tl.constexpr, MODE: tl.constexpr):
    """Program (input block pid_i, split pid_s of NS) of ``kan_dx_rows_kernel`` with MODE as in the module's docstring
    (the forty-fifth session's colaunch.py calls it beside other kernels' programs)."""
    tl.static_assert(MODE == 0 or (UNIFORM and K == 3), "modes 1-4 are for a uniform cubic grid")
    offs_i = pid_i * BI + tl.arange(0, BI)
    mask_i = offs_i[None, :] < I
    offs_c = tl.arange(0, CP)
    if MODE >= 2:  # column c * BI + i of the block holds W^T's column (input i, coefficient c)
        n = tl.arange(0, BI * CP)
        cols = pid_i * BI * CP + (n % BI) * CP + n // BI
    else:
        cols = pid_i * BI * CP + tl.arange(0, BI * CP)
    o1 = tl.arange(0, K1)
    w1 = _tile(wt_ptr, o1, cols, stride_wo, O, I * CP)
    if HAS_BASE:
        wb1 = _tile(wt_ptr + I * CP, o1, offs_i, stride_wo, O, I)
    if K2 > 0:
        o2 = K1 + tl.arange(0, K2)
        w2 = _tile(wt_ptr, o2, cols, stride_wo, O, I * CP)
        if HAS_BASE:
            wb2 = _tile(wt_ptr + I * CP, o2, offs_i, stride_wo, O, I)
    if MODE >= 1:  # the inputs' knot geometry, once a program
        t0 = tl.load(grid_ptr + offs_i * Q, mask=offs_i < I, other=0.0)
        inv_h = 1.0 / (tl.load(grid_ptr + offs_i * Q + 1, mask=offs_i < I, other=1.0) - t0)
        off = -(t0 * inv_h)[None, :] - (offs_c.to(tl.float32) + 2.0)[:, None]  # (CP, BI), MODE 3's
    for m0 in range(pid_s * BM, M, NS * BM):
        offs_m = m0 + tl.arange(0, BM)
        mask_m = offs_m[:, None] < M
        x = _tile(x_ptr, offs_m, offs_i, stride_xm, M, I).to(tl.float32)
        gy1 = _tile(gy_ptr, offs_m, o1, stride_gm, M, O).to(wt_ptr.dtype.element_ty)
        acc = tl.dot(gy1, w1, input_precision=PRECISION)
        if HAS_BASE:
            acc_b = tl.dot(gy1, wb1, input_precision=PRECISION)
        if K2 > 0:
            gy2 = _tile(gy_ptr, offs_m, o2, stride_gm, M, O).to(wt_ptr.dtype.element_ty)
            acc = tl.dot(gy2, w2, acc, input_precision=PRECISION)
            if HAS_BASE:
                acc_b = tl.dot(gy2, wb2, acc_b, input_precision=PRECISION)
        if MODE == 0:
            dx = _spline_dx(acc, x, grid_ptr, offs_i, I, Q, CP, K, UNIFORM, PACKED)
        elif MODE == 1:
            u = (x - t0[None, :]) * inv_h[None, :]
            db = _dcubic(u[:, :, None] - (offs_c.to(tl.float32) + 2.0)[None, None, :], PACKED)  # (BM, BI, CP)
            dx = tl.sum(tl.reshape(acc, (BM, BI, CP)) * db, axis=2) * inv_h[None, :]
        else:
            if MODE == 2:
                u = (x - t0[None, :]) * inv_h[None, :]
                v = u[:, None, :] - (offs_c.to(tl.float32) + 2.0)[None, :, None]  # (BM, CP, BI)
            else:
                v = x[:, None, :] * inv_h[None, None, :] + off[None, :, :]
            if MODE == 4 and PACKED:
                dx = tl.sum(tl.reshape(acc, (BM, CP, BI)) * _dcubic(v, PACKED, True), axis=1) * (0.5 * inv_h)[None, :]
            else:
                dx = tl.sum(tl.reshape(acc, (BM, CP, BI)) * _dcubic(v, PACKED), axis=1) * inv_h[None, :]
        if HAS_BASE:
            dx += acc_b * _act_grad(x, ACT)
        tl.store(dx_ptr + offs_m[:, None] * stride_dm + offs_i[None, :], dx.to(dx_ptr.dtype.element_ty),
                 mask=mask_m & mask_i)


@triton.jit
def kan_dx_rows_exp_kernel(gy_ptr, x_ptr, grid_ptr, wt_ptr, dx_ptr, M, I, O, stride_gm, stride_xm, stride_wo,
                           stride_dm, Q: tl.constexpr, CP: tl.constexpr, K: tl.constexpr, UNIFORM: tl.constexpr,
                           ACT: tl.constexpr, HAS_BASE: tl.constexpr, BM: tl.constexpr, BI: tl.constexpr,
                           K1: tl.constexpr, K2: tl.constexpr, PRECISION: tl.constexpr, PACKED: tl.constexpr,
                           MODE: tl.constexpr):
    """``dx_rows_exp_program`` on the grid (input blocks, splits)."""
    dx_rows_exp_program(tl.program_id(0), tl.program_id(1), tl.num_programs(1), gy_ptr, x_ptr, grid_ptr, wt_ptr,
                        dx_ptr, M, I, O, stride_gm, stride_xm, stride_wo, stride_dm, Q, CP, K, UNIFORM, ACT, HAS_BASE,
                        BM, BI, K1, K2, PRECISION, PACKED, MODE)


def swap_in(mode: int) -> dict:
    """``kan_op`` attributes (for ``ab.compare``'s patches) that route the held-columns input grad through MODE: this
    module's kernel in ``_DX_ROWS``, and the shipped geometry's launch with MODE added. Call it unpatched."""
    launcher, shipped = Launcher(kan_dx_rows_exp_kernel, kan_op._DX_ROWS.tensor_names), kan_op._dx_rows_geometry

    def geometry(*shape):  # the shipped launch's arguments are the kernel's but MODE, its last
        return launcher.rebind(shipped(*shape), MODE=mode)
    return {"_DX_ROWS": launcher, "_dx_rows_geometry": geometry}
