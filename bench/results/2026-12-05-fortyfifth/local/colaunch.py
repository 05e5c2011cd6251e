"""The GEMM path's small per-layer kernels launched together with a large one (forty-fifth session, offline; for the
next device run).

Every KAN layer of a compiled "auto-keep" step launches a pack kernel (W^T from the parameters, before its forward) and
an unpack kernel (the parameter gradients from the weight-grad product's partials, at the end of its backward). At
ViT-tiny/4 these are 48 launches a step of 2-4 us each: 0.059 + 0.089 ms of the step's 9.7 ms of kernels (forty-second
session, ``bench/step_kernels.py``), most of it a kernel's fixed cost (a pack at ViT-tiny's fc1 moves about 0.9 MB).
Here each rides in the launch of a kernel its layer runs anyway:

- ``kan_bases_pack_kernel``: the forward's bases kernel (3,120 programs at ViT-tiny's fc1) with the pack's programs
  in front (120: W^T only, as the GEMM path packs);
- ``kan_dx_bases_unpack_kernel``: the dX-from-dA kernel (fc2's input grad) with the unpack's programs in front; the
  backward then runs the weight-grad product before the input grad (the unpack needs its partials);
- ``kan_dx_rows_unpack_kernel``: the held-columns input grad (fc1's; one wave of 264 programs, two an SM at 172
  registers) with the unpack either as programs in front (AT 1; they hold the kernel's registers and shared memory,
  so each takes a slot of the wave) or done by the input-grad programs themselves before their row loop, tile p,
  p + P, ... (AT 2). Its programs are dx_rows_exp's (forty-fourth session): MODE 0 the shipped row loop, MODE 4 the
  shorter one.

The programs run the shipped kernels' arithmetic in the shipped order (a flat program id mapped back to the shipped
grid's two ids), so every output equals the separate launches' bit for bit (with UNPACK_WIDE the parameter gradients'
sums run in another order). The pack, unpack, bases and dX-from-dA programs here are copies of the shipped kernels'
bodies with their program ids as arguments (the shipped kernels read ``tl.program_id`` themselves; colaunch.patch
makes each body a function that both kernels call); the held-columns program is dx_rows_exp's own.
``forward``/``backward`` stand in for ``kan_op._forward``/``kan_op._backward`` (``swap_in`` returns them as patches
for ``ab.compare``); ``UNPACK_TILE``, ``UNPACK_WIDE`` and ``DX_ROWS`` choose the co-launched unpack's tile and loads
and the held-columns kernel's unpack placement and row loop. Names are imported one by one: inductor copies a user
kernel's globals into its generated code."""
import torch
import triton
import triton.language as tl

from dx_rows_exp import dx_rows_exp_program
from vkan.ops import kan_op
from vkan.ops.launch import Launcher
from vkan.ops.triton_kan import _act, _act_grad, _bases, _cubic_packed, _spline_dx, _tile


@triton.jit
def _pack_program(q, sw_ptr, sc_ptr, bw_ptr, wt_ptr, I, O, C, KT, CP: tl.constexpr, HAS_SCALER: tl.constexpr,
                  HAS_BASE: tl.constexpr, BO: tl.constexpr, BI: tl.constexpr):
    """Program q of ``kan_pack_kernel`` without HAS_W (grid (cdiv(O, BO), cdiv(I, BI)), outputs fastest)."""
    n_o = tl.cdiv(O, BO)
    offs_o = (q % n_o) * BO + tl.arange(0, BO)
    offs_i = (q // n_o) * BI + tl.arange(0, BI)
    offs_c = tl.arange(0, CP)
    m2 = (offs_o[:, None] < O) & (offs_i[None, :] < I)
    m3 = m2[:, :, None] & (offs_c < C)[None, None, :]
    edge = offs_o[:, None] * I + offs_i[None, :]
    w = tl.load(sw_ptr + edge[:, :, None] * C + offs_c[None, None, :], mask=m3, other=0.0).to(tl.float32)
    if HAS_SCALER:
        w = w * tl.load(sc_ptr + edge, mask=m2, other=0.0).to(tl.float32)[:, :, None]
    rows = offs_i[None, :, None] * CP + offs_c[None, None, :]
    tl.store(wt_ptr + offs_o[:, None, None] * KT + rows, w.to(wt_ptr.dtype.element_ty), mask=m2[:, :, None])
    if HAS_BASE:
        b = tl.load(bw_ptr + edge, mask=m2, other=0.0).to(wt_ptr.dtype.element_ty)
        tl.store(wt_ptr + offs_o[:, None] * KT + I * CP + offs_i[None, :], b, mask=m2)


@triton.jit
def _unpack_program(q, part_ptr, sw_ptr, sc_ptr, dsw_ptr, dsc_ptr, db_ptr, I, O, C, S, stride_ps, CP: tl.constexpr,
                    HAS_SCALER: tl.constexpr, HAS_BASE: tl.constexpr, BO: tl.constexpr, BI: tl.constexpr,
                    SP: tl.constexpr):
    """Program q of ``kan_unpack_kernel`` (grid (cdiv(O, BO), cdiv(I, BI)), outputs fastest); SP > 0 (a power of two
    >= S): the S partials in one (SP, BO, BI*CP) load, summed in registers (a tree's order, not the loop's), so that a
    program waits once for all of them (the loop compiles to 4 partials a pass, its adds waiting for each pass's
    loads: probes.txt)."""
    n_o = tl.cdiv(O, BO)
    pid_o, pid_i = q % n_o, q // n_o
    offs_o = pid_o * BO + tl.arange(0, BO)
    offs_i = pid_i * BI + tl.arange(0, BI)
    offs_r = pid_i * BI * CP + tl.arange(0, BI * CP)
    mask_o = offs_o < O
    m = mask_o[:, None] & (offs_r < I * CP)[None, :]
    src = part_ptr + offs_r[None, :] * O + offs_o[:, None]
    if SP > 0:
        offs_s = tl.arange(0, SP)
        g = tl.sum(tl.load(src[None, :, :] + offs_s[:, None, None] * stride_ps,
                           mask=m[None, :, :] & (offs_s < S)[:, None, None], other=0.0), axis=0)
    else:
        g = tl.zeros((BO, BI * CP), dtype=tl.float32)
        for s in range(0, S):
            g += tl.load(src + s * stride_ps, mask=m, other=0.0)
    g3 = tl.reshape(g, (BO, BI, CP))
    offs_c = tl.arange(0, CP)
    m2 = mask_o[:, None] & (offs_i[None, :] < I)
    m3 = m2[:, :, None] & (offs_c < C)[None, None, :]
    edge = offs_o[:, None] * I + offs_i[None, :]
    if HAS_SCALER:
        sc = tl.load(sc_ptr + edge, mask=m2, other=0.0).to(tl.float32)
        sw = tl.load(sw_ptr + edge[:, :, None] * C + offs_c[None, None, :], mask=m3, other=0.0).to(tl.float32)
        tl.store(dsc_ptr + edge, tl.sum(g3 * sw, axis=2), mask=m2)
        g3 = g3 * sc[:, :, None]
    tl.store(dsw_ptr + edge[:, :, None] * C + offs_c[None, None, :], g3, mask=m3)
    if HAS_BASE:
        src_b = part_ptr + (I * CP + offs_i[None, :]) * O + offs_o[:, None]
        if SP > 0:
            offs_sb = tl.arange(0, SP)
            gb = tl.sum(tl.load(src_b[None, :, :] + offs_sb[:, None, None] * stride_ps,
                                mask=m2[None, :, :] & (offs_sb < S)[:, None, None], other=0.0), axis=0)
        else:
            gb = tl.zeros((BO, BI), dtype=tl.float32)
            for sb in range(0, S):
                gb += tl.load(src_b + sb * stride_ps, mask=m2, other=0.0)
        tl.store(db_ptr + edge, gb, mask=m2)


@triton.jit
def kan_bases_pack_kernel(x_ptr, grid_ptr, a_ptr, sw_ptr, sc_ptr, bw_ptr, wt_ptr, M, I, O, C, KT, stride_xm,
                          stride_am, NP, Q: tl.constexpr, CP: tl.constexpr, K: tl.constexpr, UNIFORM: tl.constexpr,
                          ACT: tl.constexpr, HAS_SCALER: tl.constexpr, HAS_BASE: tl.constexpr, BM: tl.constexpr,
                          BI: tl.constexpr, PO: tl.constexpr, PI: tl.constexpr, PACKED: tl.constexpr):
    """Programs 0..NP-1: the pack's (PO outputs x PI inputs); the rest: ``kan_bases_kernel``'s, row blocks fastest."""
    pid = tl.program_id(0)
    if pid < NP:
        _pack_program(pid, sw_ptr, sc_ptr, bw_ptr, wt_ptr, I, O, C, KT, CP, HAS_SCALER, HAS_BASE, PO, PI)
    else:
        q = pid - NP
        n_m = tl.cdiv(M, BM)
        offs_m = (q % n_m) * BM + tl.arange(0, BM)
        offs_i = (q // n_m) * BI + tl.arange(0, BI)
        cols = (q // n_m) * BI * CP + tl.arange(0, BI * CP)
        mask_m = offs_m[:, None] < M
        x = _tile(x_ptr, offs_m, offs_i, stride_xm, M, I).to(tl.float32)
        if PACKED:
            b, _ = _cubic_packed(x, grid_ptr, offs_i, I, Q, CP, False)
        else:
            b, _ = _bases(x, grid_ptr, offs_i, I, Q, CP, K, UNIFORM)
        row = a_ptr + offs_m.to(tl.int64)[:, None] * stride_am
        tl.store(row + cols[None, :], tl.reshape(b, (BM, BI * CP)).to(a_ptr.dtype.element_ty),
                 mask=mask_m & (cols[None, :] < I * CP))
        if HAS_BASE:
            tl.store(row + I * CP + offs_i[None, :], _act(x, ACT).to(a_ptr.dtype.element_ty),
                     mask=mask_m & (offs_i[None, :] < I))


@triton.jit
def kan_dx_bases_unpack_kernel(da_ptr, x_ptr, grid_ptr, dx_ptr, part_ptr, sw_ptr, sc_ptr, dsw_ptr, dsc_ptr, db_ptr,
                               M, I, O, C, S, stride_dam, stride_xm, stride_dm, stride_ps, NU, Q: tl.constexpr,
                               CP: tl.constexpr, K: tl.constexpr, UNIFORM: tl.constexpr, ACT: tl.constexpr,
                               HAS_SCALER: tl.constexpr, HAS_BASE: tl.constexpr, BM: tl.constexpr, BI: tl.constexpr,
                               UO: tl.constexpr, UI: tl.constexpr, SP: tl.constexpr, PACKED: tl.constexpr):
    """Programs 0..NU-1: the unpack's (UO outputs x UI inputs); the rest: ``kan_dx_bases_kernel``'s, row blocks
    fastest."""
    pid = tl.program_id(0)
    if pid < NU:
        _unpack_program(pid, part_ptr, sw_ptr, sc_ptr, dsw_ptr, dsc_ptr, db_ptr, I, O, C, S, stride_ps, CP, HAS_SCALER,
                        HAS_BASE, UO, UI, SP)
    else:
        q = pid - NU
        n_m = tl.cdiv(M, BM)
        offs_m = (q % n_m) * BM + tl.arange(0, BM)
        offs_i = (q // n_m) * BI + tl.arange(0, BI)
        cols = (q // n_m) * BI * CP + tl.arange(0, BI * CP)
        mask_m = offs_m[:, None] < M
        mask_i = offs_i[None, :] < I
        row = da_ptr + offs_m.to(tl.int64)[:, None] * stride_dam
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
def kan_dx_rows_unpack_kernel(gy_ptr, x_ptr, grid_ptr, wt_ptr, dx_ptr, part_ptr, sw_ptr, sc_ptr, dsw_ptr, dsc_ptr,
                              db_ptr, M, I, O, C, S, stride_gm, stride_xm, stride_wo, stride_dm, stride_ps, NU, NUR,
                              Q: tl.constexpr, CP: tl.constexpr, K: tl.constexpr, UNIFORM: tl.constexpr,
                              ACT: tl.constexpr, HAS_SCALER: tl.constexpr, HAS_BASE: tl.constexpr, BM: tl.constexpr,
                              BI: tl.constexpr, K1: tl.constexpr, K2: tl.constexpr, PRECISION: tl.constexpr,
                              PACKED: tl.constexpr, MODE: tl.constexpr, UO: tl.constexpr, UI: tl.constexpr,
                              SP: tl.constexpr, AT: tl.constexpr):
    """The held-columns input grad, grid (input blocks, NUR + splits), and the NU unpack programs: as the first NUR
    rows of the grid (AT 1; the rest are the input grad's splits), or (AT 2, NUR 0) run by the input grad's programs
    before their row loops, tile p, p + P, ... for program p of P; the input grad's program is dx_rows_exp's, in its
    MODE. The grid stays two-dimensional: with the split taken from a flat program id the shipped row loop compiled
    to 222 registers against 172 (probe_colaunch.py)."""
    tl.static_assert(AT == 1 or AT == 2, "AT 1 or 2")
    pid_i, pid_y = tl.program_id(0), tl.program_id(1)
    q = pid_y * tl.num_programs(0) + pid_i
    if pid_y < NUR:
        if q < NU:
            _unpack_program(q, part_ptr, sw_ptr, sc_ptr, dsw_ptr, dsc_ptr, db_ptr, I, O, C, S, stride_ps, CP,
                            HAS_SCALER, HAS_BASE, UO, UI, SP)
    else:
        if AT == 2:
            for t in range(q, NU, tl.num_programs(0) * tl.num_programs(1)):
                _unpack_program(t, part_ptr, sw_ptr, sc_ptr, dsw_ptr, dsc_ptr, db_ptr, I, O, C, S, stride_ps, CP,
                                HAS_SCALER, HAS_BASE, UO, UI, SP)
        dx_rows_exp_program(pid_i, pid_y - NUR, tl.num_programs(1) - NUR, gy_ptr, x_ptr, grid_ptr, wt_ptr, dx_ptr, M,
                            I, O, stride_gm, stride_xm, stride_wo, stride_dm, Q, CP, K, UNIFORM, ACT, HAS_BASE, BM, BI,
                            K1, K2, PRECISION, PACKED, MODE)


_BASES_PACK = Launcher(kan_bases_pack_kernel, ("x_ptr", "grid_ptr", "a_ptr", "sw_ptr", "sc_ptr", "bw_ptr", "wt_ptr"))
_DX_BASES_UNPACK = Launcher(kan_dx_bases_unpack_kernel, ("da_ptr", "x_ptr", "grid_ptr", "dx_ptr", "part_ptr",
                                                         "sw_ptr", "sc_ptr", "dsw_ptr", "dsc_ptr", "db_ptr"))
_DX_ROWS_UNPACK = Launcher(kan_dx_rows_unpack_kernel, ("gy_ptr", "x_ptr", "grid_ptr", "wt_ptr", "dx_ptr", "part_ptr",
                                                       "sw_ptr", "sc_ptr", "dsw_ptr", "dsc_ptr", "db_ptr"))

# (outputs, inputs) of a co-launched unpack program; None: the shipped unpack's tile (``kan_op._unpack_geometry``)
UNPACK_TILE = None
UNPACK_WIDE = False  # the co-launched unpack loads all partials at once (``_unpack_program``'s SP)
DX_ROWS = {"AT": 1, "MODE": 0}  # the held-columns kernel's unpack placement and row loop
SHIPPED = (kan_op._forward, kan_op._backward)  # what the stand-ins fall back to (swap_in replaces kan_op's)


def _unpack_args(n_out, n_in, n_coef, cp, part, has_scaler, has_base):
    """The co-launched unpack's arguments: the shipped unpack's, at UNPACK_TILE where it is set, all partials a load
    where UNPACK_WIDE."""
    shipped = kan_op._UNPACK.arguments(kan_op._unpack_geometry(n_out, n_in, n_coef, cp, part.shape[0], part.shape[1],
                                                                has_scaler, has_base))
    uo, ui = UNPACK_TILE or (shipped["BO"], shipped["BI"])
    return dict(C=n_coef, S=part.shape[0], stride_ps=shipped["stride_ps"], UO=uo, UI=ui,
                SP=triton.next_power_of_2(part.shape[0]) if UNPACK_WIDE else 0,
                NU=triton.cdiv(n_out, uo) * triton.cdiv(n_in, ui))


def forward(x, grid, spline_weight, spline_scaler, base_weight, k, uniform, act, dtype, path="auto"):
    """``kan_op._forward`` with the GEMM path's pack co-launched with its bases kernel."""
    n_out, n_in, n_coef = spline_weight.shape
    if not kan_op.gemm_path(n_out, dtype, path):
        return SHIPPED[0](x, grid, spline_weight, spline_scaler, base_weight, k, uniform, act, dtype, path)
    cp, kt, pack = kan_op._pack_geometry(n_out, n_in, n_coef, spline_scaler is not None, base_weight is not None,
                                         False)
    has_base = base_weight is not None
    m = x.shape[0]
    bases = kan_op._BASES.arguments(kan_op._bases_geometry(m, n_in, kt, grid.shape[1], cp, k, uniform, act, has_base,
                                                           dtype))
    p = kan_op._PACK.arguments(pack)
    n_pack = pack.grid[0] * pack.grid[1]
    launch = _BASES_PACK.bind((n_pack + triton.cdiv(m, bases["BM"]) * triton.cdiv(n_in, bases["BI"]),), 4, 1,
                              O=n_out, C=n_coef, KT=kt, NP=n_pack, HAS_SCALER=p["HAS_SCALER"], PO=p["BO"], PI=p["BI"],
                              **bases)
    wt = torch.empty((n_out, kt), device=x.device, dtype=dtype)
    a = torch.empty((m, kt), device=x.device, dtype=dtype)
    sw = spline_weight.contiguous()
    _BASES_PACK(launch, x_ptr=x, grid_ptr=grid, a_ptr=a, sw_ptr=sw,
                sc_ptr=sw if spline_scaler is None else spline_scaler.contiguous(),
                bw_ptr=sw if base_weight is None else base_weight.contiguous(), wt_ptr=wt)
    y = torch.mm(a, wt.t())
    return y, None, wt, cp, a if path.endswith("-keep") else None


def backward(gy, x, grid, wt, cp, spline_weight, spline_scaler, base_weight, k, uniform, act, need_x, need_w,
             path="auto", a=None):
    """``kan_op._backward`` with the GEMM path's unpack co-launched with its input grad (the weight-grad product
    first)."""
    if not (kan_op.gemm_path(wt.shape[0], wt.dtype, path) and need_x and need_w):
        return SHIPPED[1](gy, x, grid, wt, cp, spline_weight, spline_scaler, base_weight, k, uniform, act, need_x,
                          need_w, path, a)
    has_base, has_scaler = base_weight is not None, spline_scaler is not None
    n_out, n_in, n_coef = spline_weight.shape
    m = x.shape[0]
    gy = gy.contiguous().to(wt.dtype)
    if a is None:  # evaluated again ("gemm"): a temporary, freed before the input grad's buffers
        part = kan_op._dw_product(kan_op._launch_bases(x, grid, wt.shape[1], cp, k, uniform, act, has_base, wt.dtype),
                                  gy)
    else:
        part = kan_op._dw_product(a, gy)
    sw = spline_weight.contiguous()
    dsw = torch.empty(sw.shape, device=sw.device, dtype=torch.float32)
    dsc = torch.empty(spline_scaler.shape, device=sw.device, dtype=torch.float32) if has_scaler else None
    db = torch.empty(base_weight.shape, device=sw.device, dtype=torch.float32) if has_base else None
    dx = torch.empty_like(x)
    unpack = _unpack_args(n_out, n_in, n_coef, cp, part, has_scaler, has_base)
    grads = dict(part_ptr=part, sw_ptr=sw, sc_ptr=spline_scaler.contiguous() if has_scaler else sw,
                 dsw_ptr=dsw, dsc_ptr=dsw if dsc is None else dsc, db_ptr=dsw if db is None else db)
    if kan_op._dx_rows_chosen(n_in, n_out, wt.shape[1], cp, wt.dtype, uniform):
        rows = kan_op._dx_rows_geometry(m, n_in, n_out, wt.shape[1], grid.shape[1], cp, k, uniform, act, has_base,
                                        wt.dtype, kan_op._precision(wt.dtype))
        nur = triton.cdiv(unpack["NU"], rows.grid[0]) if DX_ROWS["AT"] == 1 else 0
        launch = _DX_ROWS_UNPACK.bind((rows.grid[0], nur + rows.grid[1]), rows.num_warps, rows.num_stages, NUR=nur,
                                      HAS_SCALER=has_scaler, **DX_ROWS, **unpack, **kan_op._DX_ROWS.arguments(rows))
        _DX_ROWS_UNPACK(launch, gy_ptr=gy, x_ptr=x, grid_ptr=grid, wt_ptr=wt, dx_ptr=dx, **grads)
    else:
        da = torch.mm(gy, wt)
        bases = kan_op._DX_BASES.arguments(kan_op._dx_bases_geometry(m, n_in, wt.shape[1], grid.shape[1], cp, k,
                                                                     uniform, act, has_base, wt.dtype))
        launch = _DX_BASES_UNPACK.bind((unpack["NU"] + triton.cdiv(m, bases["BM"]) * triton.cdiv(n_in, bases["BI"]),),
                                       4, 1, O=n_out, HAS_SCALER=has_scaler, **unpack, **bases)
        _DX_BASES_UNPACK(launch, da_ptr=da, x_ptr=x, grid_ptr=grid, dx_ptr=dx, **grads)
    return dx, (kan_op._as(dsw, spline_weight), kan_op._as(dsc, spline_scaler), kan_op._as(db, base_weight))


def swap_in(at: int = 1, mode: int = 0, tile=None, wide: bool = False) -> dict:
    """``kan_op`` attributes (for ``ab.compare``'s patches) that put ``forward`` and ``backward`` in place of the
    shipped ones, the backward with these settings (``DX_ROWS``'s AT and MODE, ``UNPACK_TILE``, ``UNPACK_WIDE``) as
    the step compiles (a triton_op's body is traced then)."""

    def bwd(*args, **kwargs):
        global UNPACK_TILE, UNPACK_WIDE
        DX_ROWS.update(AT=at, MODE=mode)
        UNPACK_TILE, UNPACK_WIDE = tile, wide
        return backward(*args, **kwargs)
    return {"_forward": forward, "_backward": bwd}
