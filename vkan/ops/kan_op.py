"""``vkan::kan_linear``: a whole KANLinear layer (spline + base branch) as Triton launches with autograd, on one of
two paths (``PATHS``, ``gemm_path``), the GEMM path in two variants.

Fused path, five launches: forward = pack weights + one fused matmul kernel; backward = input-grad kernel +
weight-grad kernel + one kernel that reduces the weight-grad partials into the three parameter gradients. GEMM path:
the bases written to memory by one kernel, the three products as torch.mm (cuBLAS; the weight grad's as one
torch.bmm over row blocks where one product leaves SMs idle), the input grad finished by one more kernel, W^T alone
packed in the bases kernel's launch (``kan_bases_pack_kernel``), the same unpack. On both paths the input grad of
16-bit layers with up to 160 outputs on a uniform grid is one kernel that holds each program's W^T columns for all its
rows (``_dx_rows_chosen``). Eager mode calls the launchers (``vkan.ops.launch``, arguments bound by name once per
shape) through a plain ``autograd.Function`` (no custom-op dispatch: the per-call host cost is what limits small
layers); under ``torch.compile`` the same launchers form a ``torch.library.triton_op``, whose kernels inductor traces
and launches from its generated code. Launch parameters are fixed per shape (no autotuning: results are deterministic
and the first call compiles only one variant).
"""
from __future__ import annotations

import contextlib
import functools
import os
from typing import Iterator, Optional, Tuple

import torch

from vkan.ops import PATHS, triton_kan as tk
from vkan.ops.launch import BoundLaunch, Launcher, traced_launches

_INTERPRET = os.environ.get("TRITON_INTERPRET", "0") == "1"  # CPU interpreter: small tiles, fast tests


def padded_coefs(n_coef: int) -> int:
    """Coefficient axis padded to a power of two (>= 2) for the kernels' tiles."""
    return max(2, 1 << (n_coef - 1).bit_length())


def _cdiv(a: int, b: int) -> int:
    """Ceil division in plain Python (``triton.cdiv`` costs ~5 us per host call through its JIT wrapper)."""
    return -(-a // b)


def _precision(dtype: torch.dtype) -> str:
    """``tl.dot`` input precision: fp32 follows torch's TF32 switch; 16-bit inputs ignore it (and skip the
    switch's lookup, a call into torch on every launch)."""
    if dtype != torch.float32 or torch.backends.cuda.matmul.allow_tf32:
        return "tf32"
    return "ieee"


@functools.lru_cache(maxsize=None)
def _ptx_f16x2() -> bool:
    """Whether this machine's GPU runs the PTX f16x2 instructions of ``triton_kan._cubic_packed_at`` (NVIDIA, sm_80 or
    later)."""
    if torch.version.hip is not None or not torch.cuda.is_available():
        return False
    return torch.cuda.get_device_capability() >= (8, 0)


def _packed(dtype: torch.dtype, k: int, uniform: bool) -> bool:
    """Whether the row kernels (bases, dX from dA, the held-columns input grad) of a layer whose A or W^T is in
    ``dtype`` evaluate the uniform cubic bases in packed fp16: bf16 layers of order 3 on a uniform grid, on a GPU that
    runs PTX f16x2, never under the CPU interpreter (no inline PTX there). Compiled ViT-tiny/4 under CUDA graphs, side
    by side on the H200: 9.756 ms a step against 9.914 (bench/RESULTS.md, forty-third session, with each kernel's
    time). The packed values' error (up to 2.8e-3, tests/test_packed_bases.py) is about bf16's own rounding of them
    (2.0e-3) but 11 times fp16's: fp16 layers, like fp32 ones, keep fp32 arithmetic."""
    return dtype == torch.bfloat16 and uniform and k == 3 and not _INTERPRET and _ptx_f16x2()


def _stages(dtype: torch.dtype) -> int:
    return 3 if dtype != torch.float32 else 2  # fp32 tiles take twice the shared memory


# One launcher per kernel (vkan.ops.launch), named by its tensor parameters. A cached "geometry" function below
# binds every other argument by the kernel's parameter names once per layer shape (a ``BoundLaunch``), so a
# training step does no tile arithmetic on the host and passes only its tensors, by name.
_PACK = Launcher(tk.kan_pack_kernel, ("sw_ptr", "sc_ptr", "bw_ptr", "w_ptr", "wt_ptr"))
_UNPACK = Launcher(tk.kan_unpack_kernel, ("part_ptr", "sw_ptr", "sc_ptr", "dsw_ptr", "dsc_ptr", "db_ptr"))
_FWD = Launcher(tk.kan_fwd_kernel, ("x_ptr", "grid_ptr", "w_ptr", "y_ptr"))
_DX = Launcher(tk.kan_dx_kernel, ("gy_ptr", "x_ptr", "grid_ptr", "wt_ptr", "dx_ptr"))
_DX_ROWS = Launcher(tk.kan_dx_rows_kernel, ("gy_ptr", "x_ptr", "grid_ptr", "wt_ptr", "dx_ptr"))
_DW = Launcher(tk.kan_dw_kernel, ("gy_ptr", "x_ptr", "grid_ptr", "part_ptr"))
_BASES = Launcher(tk.kan_bases_kernel, ("x_ptr", "grid_ptr", "a_ptr"))
_DX_BASES = Launcher(tk.kan_dx_bases_kernel, ("da_ptr", "x_ptr", "grid_ptr", "dx_ptr"))
# the GEMM path's forward: the bases kernel's tensors, then the pack's (W^T only)
_BASES_PACK = Launcher(tk.kan_bases_pack_kernel, _BASES.tensor_names + ("sw_ptr", "sc_ptr", "bw_ptr", "wt_ptr"))


def _shape_cache(fn):
    """Memoise a launch-geometry function of integer sizes; sizes that torch.compile made symbolic (a
    dynamic batch dimension) are not hashable, so those calls compute the geometry each time."""
    cached = functools.lru_cache(maxsize=None)(fn)

    @functools.wraps(fn)
    def geometry(*args):
        try:
            return cached(*args)
        except TypeError:  # unhashable SymInt
            return fn(*args)
    geometry.cache_clear = cached.cache_clear  # tests that switch tile sizes (_INTERPRET) start afresh
    return geometry


# (outputs, (input, coefficient) rows) per program of the pack kernel: 8 x 128 was within 0.0002 ms of the best of 24
# tiles at six ViT layer shapes (15k-233k edges) as CUDA graphs on the H200, 2.3-3.5x faster than the earlier 32 x 256
# (ViT-tiny's and ViT-S/16's layers) and 1.07-1.4x than 16 x 64 (ViT-B/16's), which do_bench's host floor had ranked
# (bench/row_kernels.py --pack; bench/RESULTS.md, twenty-ninth session)
_PACK_TILE = (8, 128)


def _kt(n_in: int, cp: int, has_base: bool) -> int:
    """Rows of the packed W (columns of A): CP per input, and one more per input with a base branch."""
    return n_in * cp + (n_in if has_base else 0)


@_shape_cache
def _pack_geometry(n_out: int, n_in: int, n_coef: int, has_scaler: bool, has_base: bool, with_w: bool = True):
    """(CP, KT, bound launch) of the pack kernel."""
    cp = padded_coefs(n_coef)
    kt = _kt(n_in, cp, has_base)
    bo, bi = _PACK_TILE[0], max(1, _PACK_TILE[1] // cp)
    launch = _PACK.bind((_cdiv(n_out, bo), _cdiv(n_in, bi)), I=n_in, O=n_out, C=n_coef, KT=kt, CP=cp,
                        HAS_SCALER=has_scaler, HAS_BASE=has_base, HAS_W=with_w, BO=bo, BI=bi)
    return cp, kt, launch


def _pack_inputs(spline_weight, spline_scaler, base_weight) -> dict:
    """The pack program's parameter tensors, contiguous; an absent scaler or base weight passed as spline_weight,
    which the kernel then never reads."""
    sw = spline_weight.contiguous()
    return dict(sw_ptr=sw, sc_ptr=sw if spline_scaler is None else spline_scaler.contiguous(),
                bw_ptr=sw if base_weight is None else base_weight.contiguous())


def _pack(spline_weight, spline_scaler, base_weight, dtype, with_w: bool = True):
    """(W (KT, O) or None without ``with_w``, W^T (O, KT), CP): kernel-layout weights in ``dtype``; KT = I*CP (+ I
    with a base branch). The GEMM path needs only W^T (its forward product takes W^T's transpose) and packs it in its
    bases kernel's launch (``_bases_and_pack``); ``with_w`` False packs W^T alone on its own launch."""
    n_out, n_in, n_coef = spline_weight.shape
    cp, kt, launch = _pack_geometry(n_out, n_in, n_coef, spline_scaler is not None, base_weight is not None, with_w)
    wt = torch.empty((n_out, kt), device=spline_weight.device, dtype=dtype)
    w = torch.empty((kt, n_out), device=spline_weight.device, dtype=dtype) if with_w else None
    _PACK(launch, **_pack_inputs(spline_weight, spline_scaler, base_weight), w_ptr=wt if w is None else w, wt_ptr=wt)
    return w, wt, cp


def _output_pieces(n_out: int) -> Tuple[int, int]:
    """An output axis as one tile in two power-of-two pieces (``kan_dx_rows_kernel``'s K1 and K2, the forward's and the
    weight grad's BN and N2): the largest power of two <= ``n_out`` (at least 16), then 0 or the power of two (at least
    16) that covers the rest. 80 = 64 + 16 and 160 = 128 + 32 pad nothing, where 128- and 256-wide tiles pad 37.5%."""
    k1 = max(16, 1 << (n_out.bit_length() - 1))
    rest = n_out - k1
    return k1, (0 if rest <= 0 else max(16, 1 << (rest - 1).bit_length()))


def _exact_pieces(n_out: int) -> bool:
    """Whether ``_output_pieces`` splits ``n_out`` into two pieces with no masked columns (80, 96, 144, 160, ...): the
    only pieces the forward and the weight grad launch. On the H200 (bench/RESULTS.md, fortieth session) pieces with
    masked columns, at widths that are not multiples of 16, faulted or gave a wrong Y (32 + 16 at 40 outputs, 64 + 16 at
    72; cause not isolated), where exact ones (48, 80, 96, 160) matched bases materialised in PyTorch as the shipped
    tiles did."""
    k1, k2 = _output_pieces(n_out)
    return k2 > 0 and k1 + k2 == n_out


@_shape_cache
def _fwd_geometry(m, n_in, n_out, q, cp, k, uniform, act, has_base, dtype, precision):
    """The bound launch of the forward kernel; contiguous x, W and Y."""
    n2 = 0  # a second output piece (one output tile a program): see kan_fwd_kernel
    if _INTERPRET:
        bm, bn, rows, warps = 16, 16, 64, 4
    elif n_out <= 128 and dtype != torch.float32:  # narrow 16-bit layers (ViT-tiny's fc1, 80 outputs): H200
        # sweeps at 33280x192->80 (bench/RESULTS.md, twenty-second and twenty-eighth sessions): 0.064 ms as CUDA
        # graphs against 0.070 for the earlier 128 rows x 64 (input, coefficient) columns. Two output pieces (64 + 16)
        # were no faster there (0.066 ms at their best tile; fortieth session)
        bm, bn, rows, warps = 64, 128, 128, 4
    elif 128 < n_out <= 160 and _exact_pieces(n_out) and dtype != torch.float32:  # 144, 160
        # one 128 + 32 output tile instead of 256-wide ones: 0.141 ms against 0.159 at 25216x384->160 (ViT-S/16's fc1
        # on the fused path), as CUDA graphs (bench/kernel_breakdown.py M IN OUT 10 --graph; fortieth session); 144
        # (128 + 16) by extrapolation
        (bn, n2), bm, rows, warps = _output_pieces(n_out), 64, 64, 4
    elif n_out <= 128:  # narrow fp32 layers: the earlier tiles, known to fit
        bm, bn, rows, warps = 128, 128, 64, 4
    elif dtype == torch.float32:  # fp32 tiles take twice the shared memory: the earlier tiles, known to fit
        bm, bn, rows, warps = 64, 256, 64, 4
    else:  # 1.2-1.45x faster than 64 x 256 with 4 warps on 154..1536 outputs (sweep in bench/RESULTS.md)
        bm, bn, rows, warps = 128, 256, 64, 8
    return _FWD.bind((_cdiv(m, bm), 1 if n2 else _cdiv(n_out, bn)), warps, _stages(dtype), M=m, I=n_in, O=n_out,
                     stride_xm=n_in, stride_wk=n_out, stride_ym=n_out, Q=q, CP=cp, K=k, UNIFORM=uniform, ACT=act,
                     HAS_BASE=has_base, BM=bm, BN=bn, N2=n2, BI=max(1, rows // cp), BIB=16 if _INTERPRET else 64,
                     PRECISION=precision)


def _launch_fwd(x, grid, w, cp: int, k: int, uniform: bool, act: int, has_base: bool) -> torch.Tensor:
    m, n_in = x.shape
    n_out = w.shape[1]
    y = torch.empty((m, n_out), device=x.device, dtype=w.dtype)
    launch = _fwd_geometry(m, n_in, n_out, grid.shape[1], cp, k, uniform, act, has_base, w.dtype, _precision(w.dtype))
    _FWD(launch, x_ptr=x, grid_ptr=grid, w_ptr=w, y_ptr=y)
    return y


# Input-grad base term: True = a second (BM, BI) dot inside the spline programs (no zero-fill, no atomics);
# False = separate programs with (BM, 64) dots, adding into a zeroed fp32 dX; None = the dot wherever the
# input blocks are full and W^T's rows 16-byte aligned (n_in % BI == 0, KT % 8 == 0). On the H200 the dot
# is faster (16640x192->768: 0.112 vs 0.127 ms) but hit an illegal memory access at 25216x154->384
# (ViT-S/16's second KAN layer: a partial last block and misaligned rows), with Triton's own launch too
# (bench/RESULTS.md); such shapes keep the separate programs, which run correctly.
DX_BASE_DOT: Optional[bool] = None


def _dx_inputs(cp: int) -> int:
    """Inputs a program of either input-grad kernel owns: at least 16, since the base term can be a dot with that many
    columns (``kan_dx_kernel``'s BASE_DOT, ``kan_dx_rows_kernel`` always)."""
    return max(16, (64 if _INTERPRET else 128) // cp)


def _base_dot_fits(n_in: int, kt: int, cp: int) -> bool:
    """Whether the input grad's base term may be a dot: whole input blocks and W^T rows 16-byte aligned."""
    return n_in % _dx_inputs(cp) == 0 and kt % 8 == 0


@_shape_cache
def _dx_geometry(m, n_in, n_out, kt, q, cp, k, uniform, act, has_base, base_dot, dtype, precision):
    """(bound launch, separate base programs?) of the input-grad kernel."""
    bi = _dx_inputs(cp)
    if base_dot is None:
        base_dot = _base_dot_fits(n_in, kt, cp)
    separate = has_base and not base_dot
    cols = bi * cp  # width of the (BM, BI*CP) fp32 accumulator: BM shrinks as it grows
    if _INTERPRET:
        bm, bo, warps = 16, 16, 4
    elif n_out <= 256:
        bm, bo, warps = (64 if cols <= 256 else 32), 32, 4
    else:  # 16-bit: 4 warps, 1.15-1.2x faster than 8 on 384..1536 outputs (sweep in bench/RESULTS.md)
        bm, bo = (128 if cols <= 128 else 64 if cols <= 256 else 32), 64
        warps = 8 if dtype == torch.float32 else 4
    bib = 16 if _INTERPRET else 64
    nsb = _cdiv(n_in, bi)
    launch = _DX.bind((_cdiv(m, bm) * (nsb + (_cdiv(n_in, bib) if separate else 0)),), warps, _stages(dtype),
                      M=m, I=n_in, O=n_out, NSB=nsb, stride_gm=n_out, stride_xm=n_in, stride_wo=kt, stride_dm=n_in,
                      Q=q, CP=cp, K=k, UNIFORM=uniform, ACT=act, HAS_BASE=has_base, BASE_DOT=base_dot, BM=bm, BO=bo,
                      BI=bi, BIB=bib, PRECISION=precision)
    return launch, separate


def _launch_dx(gy, x, grid, wt, cp: int, k: int, uniform: bool, act: int, has_base: bool,
               base_dot: Optional[bool] = None) -> torch.Tensor:
    m, n_in = x.shape
    launch, separate = _dx_geometry(
        m, n_in, wt.shape[0], wt.shape[1], grid.shape[1], cp, k, uniform, act, has_base,
        DX_BASE_DOT if base_dot is None else base_dot, wt.dtype, _precision(wt.dtype))
    if separate:  # both kinds of programs add into zeros: fp32 buffer
        dx = torch.zeros(x.shape, device=x.device, dtype=torch.float32)
    else:
        dx = torch.empty_like(x)
    _DX(launch, gy_ptr=gy, x_ptr=x, grid_ptr=grid, wt_ptr=wt, dx_ptr=dx)
    return _as(dx, x)


_DX_ROWS_HELD_BYTES = 100 * 1024  # W^T columns a program may hold in shared memory (an H200 SM has 228 KiB)


def _dx_rows_fits(n_in: int, n_out: int, kt: int, cp: int, dtype: torch.dtype) -> bool:
    """Whether ``kan_dx_rows_kernel`` can take a layer: a base dot that fits (``_base_dot_fits``) and W^T columns within
    ``_DX_ROWS_HELD_BYTES`` a program."""
    bi = _dx_inputs(cp)
    k1, k2 = _output_pieces(n_out)
    held = (k1 + k2) * (bi * cp + bi) * dtype.itemsize
    return _base_dot_fits(n_in, kt, cp) and (_INTERPRET or held <= _DX_ROWS_HELD_BYTES)


@_shape_cache
def _dx_rows_chosen(n_in: int, n_out: int, kt: int, cp: int, dtype: torch.dtype, uniform: bool) -> bool:
    """Whether a layer's input grad runs ``kan_dx_rows_kernel`` rather than its path's own kernels. H200, bf16, the
    default grid (8 coefficients a basis row), uniform, as CUDA graphs (bench/kernel_breakdown.py M IN OUT 9 --graph;
    bench/RESULTS.md, thirty-ninth session): 0.136 ms against 0.154 for the tiled kernel and 0.155 for the GEMM path's
    dA + dX at 25216x384->160 (ViT-S/16's fc1), 0.085 against 0.088 at 33280x192->80 (ViT-tiny's fc1); slower at 192
    outputs (33280x80->192: 0.058 against 0.048) and 304 (12608x768->304: 0.321 against 0.205). On a grid that
    ``update_grid`` made non-uniform it was slower at both fc1 layers (0.635 against 0.592 and 0.317 for the GEMM path
    at ViT-S/16's, at 2 stages). Those keep their path's kernels, as do fp32 and more than 8 padded coefficients (a
    wider accumulator a program), which were not timed; fp16 takes bf16's tiles (not timed)."""
    return (uniform and dtype != torch.float32 and n_out <= 160 and cp <= 8
            and _dx_rows_fits(n_in, n_out, kt, cp, dtype))


@_shape_cache
def _dx_rows_geometry(m, n_in, n_out, kt, q, cp, k, uniform, act, has_base, dtype, precision, bm=64, warps=4,
                      stages=3, programs=264):
    """The bound launch of ``kan_dx_rows_kernel`` on a layer it fits (``_dx_rows_fits``): (input block, split) programs,
    about ``programs`` of them. The defaults were the fastest of the sweep at both layers where the kernel is chosen
    (64 rows, 4 warps, 3 stages; 264 and 528 programs within 0.002 ms)."""
    bi = _dx_inputs(cp)
    k1, k2 = _output_pieces(n_out)
    if _INTERPRET:
        bm = 16
    nsb = _cdiv(n_in, bi)
    splits = max(1, min(_cdiv(programs, nsb), _cdiv(m, bm)))
    return _DX_ROWS.bind((nsb, splits), warps, stages, M=m, I=n_in, O=n_out, stride_gm=n_out, stride_xm=n_in,
                         stride_wo=kt, stride_dm=n_in, Q=q, CP=cp, K=k, UNIFORM=uniform, ACT=act, HAS_BASE=has_base,
                         BM=bm, BI=bi, K1=k1, K2=k2, PRECISION=precision, PACKED=_packed(dtype, k, uniform))


def _launch_dx_rows(gy, x, grid, wt, cp: int, k: int, uniform: bool, act: int, has_base: bool, tiles=()):
    """dX (M, I) in x's dtype by ``kan_dx_rows_kernel`` (the layer must fit it: ``_dx_rows_fits``); ``tiles``: (rows,
    warps, stages, programs) other than the geometry's defaults (bench/kernel_breakdown.py's sweep)."""
    m, n_in = x.shape
    dx = torch.empty_like(x)
    _DX_ROWS(_dx_rows_geometry(m, n_in, wt.shape[0], wt.shape[1], grid.shape[1], cp, k, uniform, act, has_base,
                               wt.dtype, _precision(wt.dtype), *tiles), gy_ptr=gy, x_ptr=x, grid_ptr=grid, wt_ptr=wt,
             dx_ptr=dx)
    return dx


def _input_grad(gy, x, grid, wt, cp: int, k: int, uniform: bool, act: int, has_base: bool, gemm: bool):
    """dX (M, I): ``kan_dx_rows_kernel`` where ``_dx_rows_chosen``, else the path's own kernels (fused: the tiled
    input-grad kernel; GEMM: dA = dY W^T by cuBLAS, then dX from dA)."""
    if _dx_rows_chosen(x.shape[1], wt.shape[0], wt.shape[1], cp, wt.dtype, uniform):
        return _launch_dx_rows(gy, x, grid, wt, cp, k, uniform, act, has_base)
    if gemm:
        return _launch_dx_bases(torch.mm(gy, wt), x, grid, cp, k, uniform, act, has_base)
    return _launch_dx(gy, x, grid, wt, cp, k, uniform, act, has_base)


@_shape_cache
def _dw_geometry(m, n_in, n_out, kt, q, cp, k, uniform, act, has_base, dtype, precision):
    """(bound launch, number of partials) of the weight-grad kernel."""
    # programs to aim for (the split count follows): ~8 waves of the H200's 132 SMs on narrow layers (few
    # tiles; 32 splits beat 8 on ViT-tiny's layers). Wide 16-bit layers: ~3.3 waves where that still gives
    # >= 4 splits, else ~5. Weight grad + unpack, H200 (bench/RESULTS.md): 16640x192->768 0.180 ms with 10
    # splits vs 0.191 with 15; 25216x154->384 0.196 (17) vs 0.204 (26); 50432x384->1536 1.674 (4) vs 1.743 (3).
    padded = _cdiv(n_out, 256) * 256 * 3 > 4 * n_out  # 256-column tiles would pad the outputs by over 25%
    n2, splits = 0, 0  # a second output piece (one output tile a program: see kan_dw_kernel); a fixed split count
    if _INTERPRET:
        bm, bn, rows, bib, warps, programs = 16, 16, 64, 16, 4, (0,)
    elif dtype == torch.float32:  # fp32 tiles take twice the shared memory: the earlier tiles, known to fit
        bm, bn, rows, bib, warps, programs = ((64, 64, 128, 64, 4, (1056,)) if padded else
                                              (64, 256, 64, 64, 4, (1056,)))
    elif 64 < n_out <= 160 and _exact_pieces(n_out):  # 80, 96, 144, 160
        # one output tile, in two power-of-two pieces (80 = 64 + 16, 160 = 128 + 32): each column tile would compute
        # its rows' bases again. As CUDA graphs (bench/kernel_breakdown.py M IN OUT 10 --graph; fortieth session)
        # 33280x192->80 (ViT-tiny's fc1) took 0.071 ms in 16 splits against 0.075 for one 128-column tile in 32
        # (0.124 with two tiles of 64, twenty-second session), 25216x384->160 (ViT-S/16's fc1) 0.125 against 0.160
        # for 256-column tiles with 8 warps; 16 splits were within 0.002 ms of 32 or faster at both. 96 and 144 by
        # extrapolation
        (bn, n2), bm, rows, bib, warps, programs, splits = _output_pieces(n_out), 64, 128, 64, 4, (), 16
    elif n_out % 16 == 0 and 64 < n_out <= 128:  # 112 and 128: one 128-column tile (80's before the pieces)
        bm, bn, rows, bib, warps, programs = 64, 128, 128, 64, 4, (1056,)
    elif padded and (n_out % 16 or n_out <= 64):
        # 64-column tiles where 256-column ones would pad by over 25%: up to 64 outputs, and the padded widths that
        # are not multiples of 16 (the matched 77, 154, 307). The sweep's 25216x384->154 took 0.311-0.313 ms with
        # these tiles (16-32 splits; 12 shipped) against 0.428 with 256 columns
        bm, bn, rows, bib, warps, programs = 64, 64, 128, 64, 4, (1056,)
    else:  # 1.05-1.2x faster than 64 rows with 4 warps on 192..1536 outputs; on padded multiples of 16 too, measured
        # at 304 (and at 160 before the pieces; other multiples of 16 in 176..560 follow by extrapolation): the
        # sweep's 12608x768->304 took 0.308 ms as shipped against 0.424 with 64-column tiles
        bm, bn, rows, bib, warps, programs = 64, 256, 128, 64, 8, (440, 660)
    bi = max(1, rows // cp)
    nsb = _cdiv(n_in, bi)
    blocks = nsb + (_cdiv(n_in, bib) if has_base else 0)
    n_tiles = 1 if n2 else _cdiv(n_out, bn)
    tiles = blocks * n_tiles
    if not splits:  # the splits that bring the programs nearest the aim
        programs = next((p for p in programs if _cdiv(p, tiles) >= 4), programs[-1])
        splits = _cdiv(programs, tiles)
    # each split keeps >= 4 row blocks; at most 32 partials to reduce
    split = 2 if _INTERPRET else max(1, min(splits, _cdiv(m, 4 * bm), 32))
    launch = _DW.bind((blocks, n_tiles, split), warps, _stages(dtype), M=m, I=n_in, O=n_out, NSB=nsb,
                      stride_gm=n_out, stride_xm=n_in, stride_pk=n_out, stride_ps=kt * n_out, Q=q, CP=cp, K=k,
                      UNIFORM=uniform, ACT=act, BM=bm, BN=bn, N2=n2, BI=bi, BIB=bib, SPLIT=split, PRECISION=precision)
    return launch, split


def _launch_dw(gy, x, grid, kt: int, cp: int, k: int, uniform: bool, act: int, has_base: bool) -> torch.Tensor:
    """fp32 partial weight gradients (SPLIT, KT, O)."""
    m, n_in = x.shape
    n_out = gy.shape[1]
    launch, split = _dw_geometry(m, n_in, n_out, kt, grid.shape[1], cp, k, uniform, act,
                                                         has_base, gy.dtype, _precision(gy.dtype))
    part = torch.empty((split, kt, n_out), device=x.device, dtype=torch.float32)
    _DW(launch, gy_ptr=gy, x_ptr=x, grid_ptr=grid, part_ptr=part)
    return part


@_shape_cache
def _unpack_geometry(n_out: int, n_in: int, n_coef: int, cp: int, n_split: int, kt: int, has_scaler: bool,
                     has_base: bool):
    """The bound launch of the unpack kernel: 16 outputs x 16 (input, coefficient) rows a program on layers of up to
    16,384 edges (ViT-tiny's), 16 x 64 on larger ones. H200 tile sweeps as CUDA graphs (bench/kernel_breakdown.py
    M IN OUT 2 --graph; bench/RESULTS.md): 33280x192->80 and 33280x80->192 (32 partials) 0.006 ms with 16 x 16;
    25216x384->160, 25216x160->384 and 12608x768->304 (15, 17 and 4 partials of the fused path, 4, 4 and 1 of the
    GEMM path's row blocks): 16 x 64 within 0.003 ms of each sweep's best, where the earlier tiles (16 x 16 or 32 x
    32) took 0.001-0.027 ms longer."""
    bo, rows = 16, (16 if n_out * n_in <= 16384 else 64)
    bi = max(1, (64 if _INTERPRET else rows) // cp)  # the interpreter pays per program: fewer, larger ones
    return _UNPACK.bind((_cdiv(n_out, bo), _cdiv(n_in, bi)), I=n_in, O=n_out, C=n_coef, S=n_split,
                        stride_ps=kt * n_out, CP=cp, HAS_SCALER=has_scaler, HAS_BASE=has_base, BO=bo, BI=bi)


def _unpack(part, spline_weight, spline_scaler, base_weight, cp: int):
    """Parameter gradients (spline_weight, spline_scaler or None, base_weight or None) from the contiguous
    partials (SPLIT, KT, O)."""
    n_out, n_in, n_coef = spline_weight.shape
    sw = spline_weight.contiguous()
    dsw = torch.empty(sw.shape, device=sw.device, dtype=torch.float32)
    dsc = None if spline_scaler is None else torch.empty(spline_scaler.shape, device=sw.device, dtype=torch.float32)
    db = None if base_weight is None else torch.empty(base_weight.shape, device=sw.device, dtype=torch.float32)
    launch = _unpack_geometry(n_out, n_in, n_coef, cp, part.shape[0], part.shape[1],
                                       spline_scaler is not None, base_weight is not None)
    _UNPACK(launch, part_ptr=part, sw_ptr=sw, sc_ptr=sw if spline_scaler is None else spline_scaler.contiguous(),
            dsw_ptr=dsw, dsc_ptr=dsw if dsc is None else dsc, db_ptr=dsw if db is None else db)
    return _as(dsw, spline_weight), _as(dsc, spline_scaler), _as(db, base_weight)


def _as(grad: Optional[torch.Tensor], param: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
    """``grad`` in the dtype of ``param`` (a parameter or input); None stays None, matching dtypes cost no call."""
    return grad if grad is None or grad.dtype == param.dtype else grad.to(param.dtype)


# The GEMM path: the operand A = [B(X), act(X)] (M, KT) is written to memory by one kernel and the three products
# are cuBLAS calls (Y = A W, dA = dY W^T, dW = A^T dY). On "gemm" A is evaluated again in the backward rather than
# saved, so the path keeps the fused path's saved tensors and adds only transient (M, KT) buffers; "gemm-keep" saves
# A from the forward for the backward instead: one bases kernel fewer a step, for A's memory (M x KT in the compute
# dtype, KT = (CP + 1) I with CP the padded coefficients) held from each layer's forward to its backward. PATHS
# (in ``vkan.ops``, where the app's config check reads it without loading this module) names the choices of
# ``fused_kan_linear``'s ``path``; "auto" takes "gemm" where ``gemm_path`` says so, "auto-keep" takes "gemm-keep"
# on 16-bit layers from 80 outputs (the training app's choice under CUDA graphs, where it measured faster:
# ``vkan.train.pin_kernel_paths``). Both are "fused" in eager mode, except while layers are captured as CUDA graphs
# (``paths_by_shape``). The path packs W^T in its bases kernel's launch (``_bases_and_pack``): one launch fewer a
# layer and a step, 24 at ViT-tiny/4.


def gemm_path(n_out: int, dtype: torch.dtype, path: str = "auto") -> bool:
    """Whether a layer with ``n_out`` outputs computed in ``dtype`` runs on the GEMM path (see PATHS).
    ``fused_kan_linear`` reaches the rules below (for "auto" and "auto-keep") only under torch.compile and in
    ``paths_by_shape`` (graph capture): in eager mode both are the fused path. The rules were measured at the
    default grid (5 intervals, order 3: 8 coefficients a basis row)."""
    if path not in PATHS:
        raise ValueError(f"path must be one of {PATHS}, got {path!r}")
    if not path.startswith("auto"):
        return path.startswith("gemm")
    # H200, bf16, each layer's forward + backward as one CUDA graph (bench/RESULTS.md, twenty-fourth session): the
    # GEMM path took 0.60-0.93x the fused path's time at 160..768 outputs (ViT-tiny's fc2, ViT-S/16's and ViT-B/16's
    # layers, 16640x192->768) and 1.14x at 80 (ViT-tiny's fc1), where the bases written and read again outweigh the
    # narrow product. In eager mode the same layers took 1.14-1.39x the fused path's time: more launches on a
    # host-bound step. Without torch.mm's fp32 output (torch < 2.8) dW would be rounded to 16 bits: fused there.
    # "auto-keep" takes the GEMM path from 80 outputs: keeping A, the weight grad is one cuBLAS product on it where
    # the fused path's weight-grad kernel evaluates the bases again. Compiled ViT-tiny/4 under CUDA graphs, side by
    # side (bench/RESULTS.md, forty-second session): 9.913 ms a step with both layers on the GEMM path keeping A
    # against 10.118 with fc1 (192 -> 80) fused. 96 and 112 outputs follow by extrapolation; narrower layers (the
    # seed's Kansformer's 768 -> 64) stay fused, not measured.
    return n_out >= (80 if path == "auto-keep" else 128) and dtype != torch.float32 and _MM_OUT_DTYPE


# (rows, (input, coefficient) columns) per program of the GEMM path's two kernels, 4 warps. H200, bf16 A, fp32 X
# (bench/kernel_breakdown.py sweep 5; bench/RESULTS.md, twenty-fifth session): bases 64 x 256 wrote A at 3.1 TB/s
# where 64 x 128 reached 2.9 (the best, 32 x 512, 3.2, wastes more columns at 80 and 160 inputs); dX from dA
# 32 x 128 read it at 3.0 TB/s against 64 x 128's 2.85; 32 x 256 where it divides the inputs (``_dx_bases_geometry``)
_BASES_TILE, _DX_BASES_TILE, _DX_BASES_WIDE_TILE = (64, 256), (32, 128), (32, 256)


def _row_tiles(cp: int, tile: Tuple[int, int]) -> Tuple[int, int]:
    """(rows, inputs) per program of one of the GEMM path's two kernels (``tile``: rows, columns)."""
    bm, cols = (16, 64) if _INTERPRET else tile
    return bm, max(1, cols // cp)


@_shape_cache
def _bases_geometry(m, n_in, kt, q, cp, k, uniform, act, has_base, dtype):
    """The bound launch of the bases kernel, A (M, KT) in ``dtype``."""
    bm, bi = _row_tiles(cp, _BASES_TILE)
    return _BASES.bind((_cdiv(m, bm), _cdiv(n_in, bi)), 4, 1, M=m, I=n_in, stride_xm=n_in, stride_am=kt, Q=q, CP=cp,
                       K=k, UNIFORM=uniform, ACT=act, HAS_BASE=has_base, BM=bm, BI=bi,
                       PACKED=_packed(dtype, k, uniform))


@_shape_cache
def _dx_bases_geometry(m, n_in, kt, q, cp, k, uniform, act, has_base, dtype):
    """The bound launch of the GEMM path's input-grad kernel, dX (M, I) from dA (M, KT) in ``dtype``: 256 columns
    where they divide the inputs evenly (1-3% faster at 160..768 inputs), else 128 (80 and 304 inputs: 0.023 against
    0.026 ms and 0.032 against 0.033 at 33280x80 and 12608x304; bench/RESULTS.md, twenty-ninth session)."""
    wide = _row_tiles(cp, _DX_BASES_WIDE_TILE)
    bm, bi = wide if n_in % wide[1] == 0 else _row_tiles(cp, _DX_BASES_TILE)
    return _DX_BASES.bind((_cdiv(m, bm), _cdiv(n_in, bi)), 4, 1, M=m, I=n_in, stride_dam=kt, stride_xm=n_in,
                          stride_dm=n_in, Q=q, CP=cp, K=k, UNIFORM=uniform, ACT=act, HAS_BASE=has_base, BM=bm, BI=bi,
                          PACKED=_packed(dtype, k, uniform))


def _launch_bases(x, grid, kt: int, cp: int, k: int, uniform: bool, act: int, has_base: bool, dtype) -> torch.Tensor:
    """A (M, KT) in ``dtype``."""
    m, n_in = x.shape
    a = torch.empty((m, kt), device=x.device, dtype=dtype)
    _BASES(_bases_geometry(m, n_in, kt, grid.shape[1], cp, k, uniform, act, has_base, dtype), x_ptr=x,
           grid_ptr=grid, a_ptr=a)
    return a


@_shape_cache
def _bases_pack_geometry(bases: BoundLaunch, pack: BoundLaunch) -> BoundLaunch:
    """The bound launch of ``kan_bases_pack_kernel`` from the two kernels' own (the pack's without W)."""
    p = _PACK.arguments(pack)
    assert not p["HAS_W"], "the co-launched pack writes W^T alone"
    n_pack = pack.grid[0] * pack.grid[1]
    return _BASES_PACK.bind((n_pack + bases.grid[0] * bases.grid[1],), bases.num_warps, bases.num_stages, O=p["O"],
                            C=p["C"], KT=p["KT"], NP=n_pack, HAS_SCALER=p["HAS_SCALER"], PO=p["BO"], PI=p["BI"],
                            **_BASES.arguments(bases))


def _bases_and_pack(x, grid, spline_weight, spline_scaler, base_weight, k: int, uniform: bool, act: int, dtype):
    """(A (M, KT), W^T (O, KT), CP) in ``dtype``, by one launch: the GEMM path's forward before its product."""
    n_out, n_in, n_coef = spline_weight.shape
    has_base = base_weight is not None
    cp, kt, pack = _pack_geometry(n_out, n_in, n_coef, spline_scaler is not None, has_base, False)
    m = x.shape[0]
    launch = _bases_pack_geometry(_bases_geometry(m, n_in, kt, grid.shape[1], cp, k, uniform, act, has_base, dtype),
                                  pack)
    a = torch.empty((m, kt), device=x.device, dtype=dtype)
    wt = torch.empty((n_out, kt), device=x.device, dtype=dtype)
    _BASES_PACK(launch, x_ptr=x, grid_ptr=grid, a_ptr=a, **_pack_inputs(spline_weight, spline_scaler, base_weight),
                wt_ptr=wt)
    return a, wt, cp


def _launch_dx_bases(da, x, grid, cp: int, k: int, uniform: bool, act: int, has_base: bool) -> torch.Tensor:
    """dX (M, I) in x's dtype from dA = dY @ W^T (M, KT)."""
    m, n_in = x.shape
    dx = torch.empty_like(x)
    _DX_BASES(_dx_bases_geometry(m, n_in, da.shape[1], grid.shape[1], cp, k, uniform, act, has_base, da.dtype),
              da_ptr=da, x_ptr=x, grid_ptr=grid, dx_ptr=dx)
    return dx


_MM_OUT_DTYPE = hasattr(torch.ops.aten.mm, "dtype")  # torch.mm(..., out_dtype=) (torch >= 2.8, CUDA)
_BMM_OUT_DTYPE = hasattr(torch.ops.aten.bmm, "dtype")  # torch.bmm(..., out_dtype=)


def _mm_fp32(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a @ b in fp32, 2-D (torch.mm) or batched 3-D (torch.bmm): cuBLAS sums 16-bit products in fp32 and, where torch
    has ``out_dtype``, returns them unrounded."""
    op, out_dtype = (torch.mm, _MM_OUT_DTYPE) if a.dim() == 2 else (torch.bmm, _BMM_OUT_DTYPE)
    if a.dtype == torch.float32:
        return op(a, b)
    if not a.is_cuda:  # the CPU interpreter's tests
        return op(a.float(), b.float())
    if out_dtype:
        return op(a, b, out_dtype=torch.float32)
    return op(a, b).float()


@_shape_cache
def _dw_row_blocks(m: int, kt: int, n_out: int) -> int:
    """Row blocks of the GEMM path's weight-grad product: doubled (up to 8, where they divide the rows) until the
    blocks' (KT, O) outputs hold about 2^21 elements, the area of 128 output tiles of 128 x 128 (an H200 has 132 SMs).
    H200, bf16, CUDA graphs, product + unpack, two calls (bench/row_kernels.py --products; bench/RESULTS.md,
    thirty-first session): 4 blocks 1-5% faster than one product at ViT-S/16's 25216x384->160 and 25216x160->384
    (553k outputs; fc1 0.0577-0.0600 ms against 0.0599-0.0629), 8 blocks 13-14% at ViT-tiny's 33280x80->192 (138k;
    0.0264-0.0267 against 0.0307-0.0308); ViT-B/16's layers (2.1M outputs) stay at one product (two blocks: within 1%,
    four: about 10% slower). Under torch.compile with a dynamic batch, the divisibility test is a guard: a batch that
    changes the block count compiles again."""
    blocks = 1
    while _BMM_OUT_DTYPE and blocks < 8 and blocks * kt * n_out < (1 << 21) and m % (2 * blocks) == 0:
        blocks *= 2
    return blocks


def _dw_product(a: torch.Tensor, gy: torch.Tensor, blocks: Optional[int] = None) -> torch.Tensor:
    """fp32 partial weight gradients (S, KT, O) = A^T dY over S blocks of rows, for the unpack to sum; S is ``blocks``
    (dividing the rows) or ``_dw_row_blocks``'s choice."""
    m, kt = a.shape
    s = blocks or _dw_row_blocks(m, kt, gy.shape[1])
    if s == 1:
        return _mm_fp32(a.t(), gy)[None]
    return _mm_fp32(a.view(s, m // s, kt).transpose(1, 2), gy.view(s, m // s, gy.shape[1]))


def keeps_bases(n_out: int, dtype: torch.dtype, path: str) -> bool:
    """Whether a layer on ``path`` ("gemm-keep", or "auto-keep" where ``gemm_path`` takes the GEMM path) keeps its
    forward's A for the backward."""
    return path.endswith("-keep") and gemm_path(n_out, dtype, path)


def _forward(x, grid, spline_weight, spline_scaler, base_weight, k, uniform, act, dtype, path="auto"):
    """(Y, W (None on the GEMM path), W^T, padded coefficients, A where ``path`` keeps it for the backward, else
    None)."""
    if gemm_path(spline_weight.shape[0], dtype, path):
        a, wt, cp = _bases_and_pack(x, grid, spline_weight, spline_scaler, base_weight, k, uniform, act, dtype)
        return torch.mm(a, wt.t()), None, wt, cp, a if path.endswith("-keep") else None  # keeps_bases, not run again
    w, wt, cp = _pack(spline_weight, spline_scaler, base_weight, dtype)
    return _launch_fwd(x, grid, w, cp, k, uniform, act, base_weight is not None), w, wt, cp, None


def _backward(gy, x, grid, wt, cp, spline_weight, spline_scaler, base_weight, k, uniform, act, need_x, need_w,
              path="auto", a=None):
    """(dX, (d spline_weight, d spline_scaler, d base_weight)); ``a``: the forward's A where ``keeps_bases``."""
    has_base = base_weight is not None
    gy = gy.contiguous()
    if gemm_path(wt.shape[0], wt.dtype, path):
        gy = gy.to(wt.dtype)
        dx = _input_grad(gy, x, grid, wt, cp, k, uniform, act, has_base, gemm=True) if need_x else None
        if need_w:
            if a is None:
                a = _launch_bases(x, grid, wt.shape[1], cp, k, uniform, act, has_base, wt.dtype)
            part = _dw_product(a, gy)
    else:
        dx = _input_grad(gy, x, grid, wt, cp, k, uniform, act, has_base, gemm=False) if need_x else None
        if need_w:
            part = _launch_dw(gy, x, grid, wt.shape[1], cp, k, uniform, act, has_base)
    grads = _unpack(part, spline_weight, spline_scaler, base_weight, cp) if need_w else (None, None, None)
    return dx, grads


# Under torch.compile the layer is a triton_op: inductor sees its kernels (and the GEMM path's torch.mm calls) and
# launches them from its own generated code (no per-call Python dispatch). Triton's CPU interpreter has no
# wrap_triton, so CPU tests get the same functions as an opaque custom_op with fake kernels.
_TRACEABLE = not _INTERPRET and hasattr(torch.library, "triton_op")
_op = torch.library.triton_op if _TRACEABLE else torch.library.custom_op


@_op("vkan::kan_linear", mutates_args=())
def kan_linear(x: torch.Tensor, grid: torch.Tensor, spline_weight: torch.Tensor, spline_scaler: Optional[torch.Tensor],
               base_weight: Optional[torch.Tensor], spline_order: int, uniform: bool, act: int,
               dtype: torch.dtype, path: str) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """x (M, I), grid (I, Q) fp32, spline_weight (O, I, C), spline_scaler (O, I), base_weight (O, I) -> (M, O); then,
    for the backward, A (M, KT) where ``path`` keeps it (``keeps_bases``; else an empty tensor) and the packed
    W^T (O, KT) in ``dtype``."""
    with traced_launches(_TRACEABLE):
        y, _, wt, _, a = _forward(x, grid, spline_weight, spline_scaler, base_weight, spline_order, uniform, act,
                                  dtype, path)
    return y, x.new_empty(0, dtype=dtype) if a is None else a, wt


@_op("vkan::kan_linear_backward", mutates_args=())
def kan_linear_backward(gy: torch.Tensor, x: torch.Tensor, grid: torch.Tensor, spline_weight: torch.Tensor,
                        spline_scaler: Optional[torch.Tensor], base_weight: Optional[torch.Tensor], spline_order: int,
                        uniform: bool, act: int, dtype: torch.dtype, path: str, a: torch.Tensor,
                        wt: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradients (x, spline_weight, spline_scaler, base_weight) of ``kan_linear``; an absent parameter gets an
    empty tensor. ``a`` and ``wt`` are the forward's second and third outputs (A where ``keeps_bases``, else empty;
    the packed W^T, saved rather than packed again: one pack launch fewer a layer and a step, 0.19 ms of kernels a
    step over ViT-tiny/4's 24 layers on an H200, bench/RESULTS.md). ``dtype`` is no longer read (W^T carries it); it
    stays so that the autograd context passes the forward's arguments through unchanged."""
    cp = padded_coefs(spline_weight.shape[2])
    with traced_launches(_TRACEABLE):
        dx, (dsw, dsc, db) = _backward(gy, x, grid, wt, cp, spline_weight, spline_scaler, base_weight,
                                       spline_order, uniform, act, True, True, path, a if a.numel() else None)
    # an absent parameter's gradient is an empty tensor of its own: a custom op's outputs may not alias each other
    return dx, dsw, x.new_empty(0) if dsc is None else dsc, x.new_empty(0) if db is None else db


if not _TRACEABLE:  # a triton_op derives its fake kernels by tracing the functions above

    @kan_linear.register_fake
    def _(x, grid, spline_weight, spline_scaler, base_weight, spline_order, uniform, act, dtype, path):
        kt = _kt(x.shape[1], padded_coefs(spline_weight.shape[2]), base_weight is not None)
        return (x.new_empty((x.shape[0], spline_weight.shape[0]), dtype=dtype),
                x.new_empty((x.shape[0], kt) if keeps_bases(spline_weight.shape[0], dtype, path) else (0,),
                            dtype=dtype),
                x.new_empty((spline_weight.shape[0], kt), dtype=dtype))

    @kan_linear_backward.register_fake
    def _(gy, x, grid, spline_weight, spline_scaler, base_weight, spline_order, uniform, act, dtype, path, a, wt):
        return (torch.empty_like(x), torch.empty_like(spline_weight),
                x.new_empty(0) if spline_scaler is None else torch.empty_like(spline_scaler),
                x.new_empty(0) if base_weight is None else torch.empty_like(base_weight))


def _setup_context(ctx, inputs, output):
    x, grid, spline_weight, spline_scaler, base_weight, spline_order, uniform, act, dtype, path = inputs
    ctx.mark_non_differentiable(output[1], output[2])
    ctx.set_materialize_grads(False)  # no zero-filled gradients for A and W^T: the backward ignores them
    ctx.save_for_backward(x, grid, spline_weight, spline_scaler, base_weight, output[1], output[2])
    ctx.args = (spline_order, uniform, act, dtype, path)


def _op_backward(ctx, gy, *_):
    x, grid, spline_weight, spline_scaler, base_weight, a, wt = ctx.saved_tensors
    dx, dsw, dsc, db = torch.ops.vkan.kan_linear_backward(gy, x, grid, spline_weight, spline_scaler, base_weight,
                                                          *ctx.args, a, wt)
    return (dx, None, dsw, dsc if spline_scaler is not None else None, db if base_weight is not None else None,
            None, None, None, None, None)


kan_linear.register_autograd(_op_backward, setup_context=_setup_context)


_by_shape = False  # True inside ``paths_by_shape``


@contextlib.contextmanager
def paths_by_shape() -> Iterator[None]:
    """Within this block eager calls on "auto" and "auto-keep" choose their kernels by shape (``gemm_path``), as
    under torch.compile, instead of taking the fused path: for layers captured as CUDA graphs
    (``vkan.ffn_graphs``), whose replays have no per-launch host cost, the host cost that keeps eager mode fused."""
    global _by_shape
    previous, _by_shape = _by_shape, True
    try:
        yield
    finally:
        _by_shape = previous


class _EagerKANLinear(torch.autograd.Function):
    """The same launchers as ``vkan::kan_linear`` without the custom-op dispatcher, for eager mode; the packed
    W^T is kept for the backward."""

    @staticmethod
    def forward(ctx, x, grid, spline_weight, spline_scaler, base_weight, spline_order, uniform, act, dtype, path):
        y, _, wt, cp, a = _forward(x, grid, spline_weight, spline_scaler, base_weight, spline_order, uniform, act,
                                   dtype, path)
        keep = any(ctx.needs_input_grad[2:5])  # A serves only the weight grads
        ctx.save_for_backward(x, grid, wt, spline_weight, spline_scaler, base_weight, a if keep else None)
        ctx.args = (cp, spline_order, uniform, act, path)
        return y

    @staticmethod
    def backward(ctx, gy):
        x, grid, wt, spline_weight, spline_scaler, base_weight, a = ctx.saved_tensors
        cp, k, uniform, act, path = ctx.args
        need = ctx.needs_input_grad
        dx, (dsw, dsc, db) = _backward(gy, x, grid, wt, cp, spline_weight, spline_scaler, base_weight, k, uniform,
                                       act, need[0], need[2] or need[3] or need[4], path, a)
        return dx, None, dsw, dsc, db, None, None, None, None, None


def fused_kan_linear(x: torch.Tensor, grid: torch.Tensor, spline_weight: torch.Tensor,
                     spline_scaler: Optional[torch.Tensor] = None, base_weight: Optional[torch.Tensor] = None,
                     spline_order: int = 3, uniform: bool = False, act: int = 1, path: str = "auto") -> torch.Tensor:
    """``B(x) @ (spline_weight * spline_scaler)^T + act(x) @ base_weight^T``: x (N, I) -> (N, O), fused.

    spline_weight (O, I, C); spline_scaler (O, I) or None; base_weight (O, I) or None (spline part only);
    ``act`` is the base activation's kernel code (``vkan.ops.ACTIVATION_CODES``). ``uniform=True`` promises
    equally spaced knots in every row of ``grid`` and selects the closed-form bases; ``False`` is right for
    any grid. Under autocast the matmuls run in the autocast dtype (the output has that dtype, like
    ``F.linear``); otherwise in ``spline_weight``'s dtype. Parameter gradients come back in fp32 sums cast
    to each parameter's dtype. ``path`` picks the kernels (``PATHS``): "fused" evaluates the bases inside the
    matmul kernels, "gemm" writes them to memory for cuBLAS, "gemm-keep" too and keeps them for the backward
    (more memory, one kernel fewer), "auto" is "fused" in eager mode and chooses by shape (``gemm_path``) under
    torch.compile and in ``paths_by_shape``, "auto-keep" too, keeping the bases where it takes the GEMM path.
    """
    dtype = spline_weight.dtype
    if torch.is_autocast_enabled(x.device.type):
        dtype = torch.get_autocast_dtype(x.device.type)
    if grid.dtype != torch.float32:
        grid = grid.float()
    if torch.compiler.is_compiling():
        return torch.ops.vkan.kan_linear(x.contiguous(), grid.contiguous(), spline_weight, spline_scaler, base_weight,
                                         spline_order, uniform, act, dtype, path)[0]
    if path.startswith("auto") and not _by_shape:
        path = "fused"
    return _EagerKANLinear.apply(x.contiguous(), grid.contiguous(), spline_weight, spline_scaler, base_weight,
                                 spline_order, uniform, act, dtype, path)
