"""Times each fused kernel (pack, forward, input grad, weight grad, unpack) of one KANLinear shape, and
optionally a few tile configurations, to show where the time goes and which tiles to ship.

    PYTHONPATH=. python bench/kernel_breakdown.py [M IN OUT [SWEEP]] [--graph]

SWEEP 0 times the shipped kernels (both paths: fused, and the GEMM path's bases kernel, cuBLAS products and input-grad
step) only; 1 (the default) then sweeps the tiles of the unpack, forward, input grad and weight grad; 2 the unpack's
only (on the fused path's partials and on the GEMM path's row-block partials); 3 the unpack's and the weight grad's,
4 the unpack's and the forward's (3 and 4 over wider output tiles than 1); 5 the GEMM path's two row kernels' (bases A,
and dX from dA); 7 the input grad's, over shorter programs than 1 (32 or 64 rows, output steps of 16 or 32, 128
columns, 2 or 4 warps, 1 or 3 stages); 8 the forward's, the input grad's and the weight grad's pipeline stages (2, 3 or
4, about the tiles they ship with: the stages decide the shared memory a program takes, and so how many programs
share an SM); 9 the input grad with W^T's columns held a program (``kan_dx_rows_kernel``: rows, warps, stages,
programs), each checked against the tiled input grad (``kan_dx_kernel``); 10 the forward and the weight grad with the
output axis in two power-of-two pieces a program (``N2``, 80 = 64 + 16) against their shipped tiles (rows, (input,
coefficient) columns, warps, stages; the weight grad's splits too), each checked against the shipped kernel's output,
on layers whose outputs the two pieces cover exactly (``kan_op._exact_pieces``).
(6 was a one-pass backward's, a kernel measured slower and removed: bench/RESULTS.md, thirtieth session.)

Every launch goes through the shipped launchers (``vkan.ops.kan_op``): sweeps change the bound arguments by
name (``Launcher.rebind``), so they run exactly what a layer runs, with other tiles.

Times are ``triton.testing.do_bench``'s, which include the host's launch time where that is longer than the kernel
(on a slow host, kernels under ~0.05 ms); ``--graph`` times each call as 20 calls captured in one CUDA graph instead
(kernels only).
"""
import itertools
import sys

import torch
import triton

from vkan import KANLinear
from vkan.bench import graph_calls_ms, triton_time_ms
from vkan.ops import kan_op


SWEEPS = (0, 1, 2, 3, 4, 5, 7, 8, 9, 10)
GRAPH_CALLS = 0  # --graph: calls of ``fn`` captured in one CUDA graph and replayed


def bench(fn):
    """ms per call of ``fn``: do_bench's, or with ``GRAPH_CALLS`` a replay of that many calls over their number."""
    return graph_calls_ms(fn, GRAPH_CALLS) if GRAPH_CALLS else triton_time_ms(fn, rep_ms=100)


def max_rel(got, want):
    """Largest |got - want| over the largest |want| (partials (S, KT, O) summed over S first)."""
    got = got.sum(0) if got.dim() == 3 else got
    return ((got.float() - want.float()).abs().max() / want.float().abs().max()).item()


def timed(name, fn, out=None, want=None):
    """Prints ``fn``'s ms a call; with ``want``, also ``max_rel(out, want)`` after one call of ``fn``."""
    try:
        note = ""
        if want is not None:
            fn()
            note = f" ({max_rel(out, want):.1e})"
        print(f"{name}: {bench(fn):.3f} ms{note}")
    except Exception as e:  # out of shared memory / registers
        print(f"{name}: failed {type(e).__name__}")


def main(m=16640, n_in=192, n_out=768, sweep=1):
    layer = KANLinear(n_in, n_out).cuda()
    sw, sc, bw = layer.spline_weight.detach(), layer.spline_scaler.detach(), layer.base_weight.detach()
    x = torch.randn(m, n_in, device="cuda")
    w, wt, cp = kan_op._pack(sw, sc, bw, torch.bfloat16)
    kt, grid, q = w.shape[0], layer.grid, layer.grid.shape[1]
    gy = torch.randn(m, n_out, device="cuda", dtype=torch.bfloat16)
    y = torch.empty(m, n_out, device="cuda", dtype=torch.bfloat16)
    gf = 2 * m * n_in * (layer.n_coef + 1) * n_out / 1e9  # spline + base multiply-adds
    print(f"## {m}x{n_in}->{n_out}: shipped launchers (TFLOP/s counts spline + base matmuls)")
    part = kan_op._launch_dw(gy, x, grid, kt, cp, 3, True, 1, True)
    print(f"pack (W and W^T): {bench(lambda: kan_op._pack(sw, sc, bw, torch.bfloat16)):.3f} ms")
    print(f"unpack (split {part.shape[0]}): {bench(lambda: kan_op._unpack(part, sw, sc, bw, cp)):.3f} ms")
    held = kan_op._dx_rows_fits(n_in, n_out, kt, cp, torch.bfloat16)  # kan_dx_rows_kernel can take the layer
    for uniform in (True, False):
        kernels = [("fwd", lambda: kan_op._launch_fwd(x, grid, w, cp, 3, uniform, 1, True)),
                   ("dx (separate base programs)", lambda: kan_op._launch_dx(gy, x, grid, wt, cp, 3, uniform, 1, True,
                                                                             base_dot=False)),
                   ("dx (base-dot variant)", lambda: kan_op._launch_dx(gy, x, grid, wt, cp, 3, uniform, 1, True,
                                                                       base_dot=True)),
                   ("dw", lambda: kan_op._launch_dw(gy, x, grid, kt, cp, 3, uniform, 1, True))]
        if held:
            kernels.append(("dx (W^T columns held)",
                            lambda: kan_op._launch_dx_rows(gy, x, grid, wt, cp, 3, uniform, 1, True)))
        for name, fn in kernels:
            ms = bench(fn)
            print(f"uniform={uniform} {name}: {ms:.3f} ms, {gf / ms:.0f} TFLOP/s")
    a = torch.randn(m, n_in * (layer.n_coef + 1), device="cuda", dtype=torch.bfloat16)
    b = torch.randn(n_in * (layer.n_coef + 1), n_out, device="cuda", dtype=torch.bfloat16)
    print(f"cuBLAS on materialised bases: {bench(lambda: a @ b):.3f} ms")
    bases = kan_op._launch_bases(x, grid, kt, cp, 3, True, 1, True, torch.bfloat16)
    da = gy @ wt
    for name, fn in [("bases A", lambda: kan_op._launch_bases(x, grid, kt, cp, 3, True, 1, True, torch.bfloat16)),
                     ("pack (W^T alone)", lambda: kan_op._pack(sw, sc, bw, torch.bfloat16, with_w=False)),
                     ("bases A and W^T in one launch (shipped)",
                      lambda: kan_op._bases_and_pack(x, grid, sw, sc, bw, 3, True, 1, torch.bfloat16)),
                     ("Y = A (W^T)^T", lambda: bases @ wt.t()), ("dA = dY W^T", lambda: gy @ wt),
                     ("dX from dA", lambda: kan_op._launch_dx_bases(da, x, grid, cp, 3, True, 1, True)),
                     ("dW = A^T dY in fp32", lambda: kan_op._mm_fp32(bases.t(), gy)),
                     ("unpack (1 partial)", lambda: kan_op._unpack(part[:1], sw, sc, bw, cp))]:
        print(f"gemm path, {name}: {bench(fn):.3f} ms")
    print(f"gemm path, uniform=False, bases A: "
          f"{bench(lambda: kan_op._launch_bases(x, grid, kt, cp, 3, False, 1, True, torch.bfloat16)):.3f} ms, "
          f"dX from dA: {bench(lambda: kan_op._launch_dx_bases(da, x, grid, cp, 3, False, 1, True)):.3f} ms")
    if not sweep:
        return
    if sweep == 5:
        return sweep_row_kernels(m, n_in, kt, q, cp, x, grid, da)
    if sweep == 7:  # input grad only, short programs: fewer rows, narrower output steps, 2 or 4 warps, 1 or 3 stages
        return sweep_dx(m, n_in, n_out, kt, q, cp, x, gy, grid, wt,
                        itertools.product((32, 64), (16, 32), (128,), (2, 4), (1, 3)))
    if sweep == 9:  # the input grad with W^T's columns held
        return sweep_dx_rows(gy, x, grid, wt, cp, itertools.product((64, 128), (4, 8), (2, 3), (264, 528)))
    if sweep == 10:  # forward and weight grad with the output axis in two pieces
        return sweep_pieces(m, n_in, n_out, kt, q, cp, x, w, gy, grid)
    if sweep == 8:  # pipeline stages of the three fused matmul kernels
        return sweep_stages(m, n_in, n_out, kt, q, cp, x, w, y, gy, grid, wt)
    dsw, dsc, db = torch.empty_like(sw), torch.empty_like(sc), torch.empty_like(bw)
    partials = [("fused path", part)]
    if sweep == 2:  # the GEMM path's row-block partials too
        partials.append(("gemm path", kan_op._dw_product(bases, gy)))
    for path, swept in partials:
        n_split = swept.shape[0]
        print(f"## unpack tiles, {path} (split {n_split}): BO rows-per-program -> ms")
        shipped = kan_op._unpack_geometry(n_out, n_in, layer.n_coef, cp, n_split, kt, True, True)
        tiles = kan_op._UNPACK.arguments(shipped)
        print(f"shipped: {tiles['BO']} {tiles['BI'] * cp}")
        for bo, rows in itertools.product((16, 32, 64), (16, 32, 64)):
            bi = max(1, rows // cp)
            launch = kan_op._UNPACK.rebind(shipped, grid=(triton.cdiv(n_out, bo), triton.cdiv(n_in, bi)), BO=bo, BI=bi)
            timed(f"unpack {bo} {bi * cp}", lambda: kan_op._UNPACK(
                launch, part_ptr=swept, sw_ptr=sw, sc_ptr=sc, dsw_ptr=dsw, dsc_ptr=dsc, db_ptr=db))
    if sweep == 2:  # unpack tiles only
        return
    bns = (64, 128) if n_out <= 128 else (128, 256)  # output tiles that fit the layer's width
    wider = (32, 64, 128) if n_out <= 128 else (64, 128, 256)
    if sweep == 3:  # weight grad only, wider: narrower output tiles and taller (input, coefficient) tiles too
        return sweep_dw(m, n_in, n_out, kt, q, cp, x, gy, grid, wider, (64, 128, 256), (16, 32))
    if sweep == 4:  # forward only, wider output tiles
        return sweep_fwd(m, n_in, n_out, q, cp, x, w, y, grid, wider)
    sweep_fwd(m, n_in, n_out, q, cp, x, w, y, grid, bns)
    sweep_dx(m, n_in, n_out, kt, q, cp, x, gy, grid, wt,
             itertools.product((64, 128), (32, 64), (128, 256), (4, 8), (3,)))
    sweep_dw(m, n_in, n_out, kt, q, cp, x, gy, grid, bns, (64, 128), (8, 32))


def sweep_dx(m, n_in, n_out, kt, q, cp, x, gy, grid, wt, configs):
    """Times the input-grad kernel (uniform, base-dot) as shipped, then over ``configs``: (rows, output step,
    (input, coefficient) columns, warps, stages)."""
    dxl, _ = kan_op._dx_geometry(m, n_in, n_out, kt, q, cp, 3, True, 1, True, True, torch.bfloat16, "tf32")
    dx = torch.empty_like(x)
    shipped = kan_op._DX.arguments(dxl)
    print("## input-grad tiles (uniform, base-dot): BM BO BK warps stages -> ms")
    timed(f"dx shipped {shipped['BM']} {shipped['BO']} {shipped['BI'] * cp} {dxl.num_warps} {dxl.num_stages}",
          lambda: kan_op._DX(dxl, gy_ptr=gy, x_ptr=x, grid_ptr=grid, wt_ptr=wt, dx_ptr=dx))
    for bm, bo, bk, warps, stages in configs:
        nsb = triton.cdiv(n_in, bk // cp)
        launch = kan_op._DX.rebind(dxl, grid=(triton.cdiv(m, bm) * nsb,), num_warps=warps, num_stages=stages, BM=bm,
                                   BO=bo, BI=bk // cp, NSB=nsb)
        timed(f"dx {bm} {bo} {bk} {warps} {stages}", lambda: kan_op._DX(launch, gy_ptr=gy, x_ptr=x, grid_ptr=grid,
                                                                         wt_ptr=wt, dx_ptr=dx))


def sweep_dx_rows(gy, x, grid, wt, cp, configs):
    """Times ``kan_dx_rows_kernel`` (uniform grid, base branch) over ``configs``: (rows, warps, stages, programs aimed
    at), with each dX's largest difference from the tiled input grad's (``kan_dx_kernel``) over the largest |dX|."""
    print("## input grad, W^T columns held: BM warps stages programs -> ms (max |dX - tiled| / max |dX|)")
    if not kan_op._dx_rows_fits(x.shape[1], wt.shape[0], wt.shape[1], cp, wt.dtype):
        print("does not fit this layer")
        return
    ref = kan_op._launch_dx(gy, x, grid, wt, cp, 3, True, 1, True)
    for tiles in configs:
        name = "dx rows " + " ".join(map(str, tiles))
        try:
            err = max_rel(kan_op._launch_dx_rows(gy, x, grid, wt, cp, 3, True, 1, True, tiles), ref)
            ms = bench(lambda: kan_op._launch_dx_rows(gy, x, grid, wt, cp, 3, True, 1, True, tiles))
            print(f"{name}: {ms:.3f} ms ({err:.1e})")
        except Exception as e:  # out of shared memory / registers
            print(f"{name}: failed {type(e).__name__}")


def sweep_stages(m, n_in, n_out, kt, q, cp, x, w, y, gy, grid, wt, stages=(2, 3, 4)):
    """Times the forward, input grad and weight grad at ``stages`` pipeline stages: the forward over rows, (input,
    coefficient) columns and warps at its shipped output tile, the input grad over rows and output steps at its
    shipped columns and warps, the weight grad over columns and warps at its shipped rows, output tile and split."""
    fwd = kan_op._FWD.arguments(kan_op._fwd_geometry(m, n_in, n_out, q, cp, 3, True, 1, True, torch.bfloat16, "tf32"))
    sweep_fwd(m, n_in, n_out, q, cp, x, w, y, grid, (fwd["BN"],), stages, fwd["N2"])
    dxl, _ = kan_op._dx_geometry(m, n_in, n_out, kt, q, cp, 3, True, 1, True, True, torch.bfloat16, "tf32")
    dx = kan_op._DX.arguments(dxl)
    sweep_dx(m, n_in, n_out, kt, q, cp, x, gy, grid, wt,
             itertools.product((32, 64, 128), (16, 32), (dx["BI"] * cp,), (dxl.num_warps,), stages))
    dwl, n_split = kan_op._dw_geometry(m, n_in, n_out, kt, q, cp, 3, True, 1, True, torch.bfloat16, "tf32")
    dw = kan_op._DW.arguments(dwl)
    sweep_dw(m, n_in, n_out, kt, q, cp, x, gy, grid, (dw["BN"],), (64, 128), (n_split,), stages, dw["N2"])


def sweep_pieces(m, n_in, n_out, kt, q, cp, x, w, gy, grid):
    """Times the forward and the weight grad (uniform grid) as shipped, then with one output tile in the two pieces
    ``kan_op._output_pieces`` gives (BN = K1, N2 = K2) over rows x (input, coefficient) columns x warps x stages (x
    splits), with each output's largest difference from the shipped kernel's over its largest |value|."""
    bn, n2 = kan_op._output_pieces(n_out)
    print(f"## output pieces {bn} + {n2} (max |out - shipped| / max |out| after each time)")
    if not kan_op._exact_pieces(n_out):  # masked columns in the second piece faulted on the H200 (fortieth session)
        print("the pieces would mask columns: not launched")
        return
    y = torch.empty(m, n_out, device="cuda", dtype=torch.bfloat16)
    sweep_fwd(m, n_in, n_out, q, cp, x, w, y, grid, (bn,), (2, 3, 4), n2, check=True)
    sweep_dw(m, n_in, n_out, kt, q, cp, x, gy, grid, (bn,), (64, 128), (16, 32), (2, 3), n2, bms=(64, 128), check=True)


def sweep_fwd(m, n_in, n_out, q, cp, x, w, y, grid, bns, stages=(None,), n2=0, check=False):
    """Times the forward kernel, first as shipped, then over 64|128 rows x output tiles ``bns`` x (input,
    coefficient) tiles of 64|128 x 4|8 warps (x ``stages``; None: the shipped stages); with ``n2`` each tile has that
    second output piece (one tile a program), else whole tiles; ``check``: each Y against the shipped kernel's."""
    fwd = kan_op._fwd_geometry(m, n_in, n_out, q, cp, 3, True, 1, True, torch.bfloat16, "tf32")
    ref = None
    if check:
        ref = torch.empty_like(y)
        kan_op._FWD(fwd, x_ptr=x, grid_ptr=grid, w_ptr=w, y_ptr=ref)
    print(f"## forward tiles (uniform{f', second output piece {n2}' if n2 else ''}): BM BN BK warps [stages] -> ms")
    shipped = kan_op._FWD.arguments(fwd)
    timed(f"fwd shipped {shipped['BM']} {shipped['BN']}+{shipped['N2']} {shipped['BI'] * cp} {fwd.num_warps} "
          f"{fwd.num_stages}", lambda: kan_op._FWD(fwd, x_ptr=x, grid_ptr=grid, w_ptr=w, y_ptr=y), y, ref)
    for bm, bn, bk, warps, st in itertools.product((64, 128), bns, (64, 128), (4, 8), stages):
        launch = kan_op._FWD.rebind(fwd, grid=(triton.cdiv(m, bm), 1 if n2 else triton.cdiv(n_out, bn)),
                                    num_warps=warps, num_stages=st, BM=bm, BN=bn, N2=n2, BI=bk // cp)
        timed(f"fwd {bm} {bn} {bk} {warps}" + (f" {st}" if st else ""),
              lambda: kan_op._FWD(launch, x_ptr=x, grid_ptr=grid, w_ptr=w, y_ptr=y), y, ref)


def sweep_row_kernels(m, n_in, kt, q, cp, x, grid, da):
    """Times the GEMM path's bases kernel and its dX-from-dA kernel (uniform grid), as shipped and over rows x
    (input, coefficient) columns x warps, with the bandwidth each reaches (bytes read and written once)."""
    a = torch.empty((m, kt), device="cuda", dtype=torch.bfloat16)
    dx = torch.empty_like(x)
    moved = (m * kt * a.element_size() + m * n_in * x.element_size()) / 1e9  # A (or dA) and X
    moved_dx = moved + m * n_in * x.element_size() / 1e9  # ... and dX written
    kernels = [("bases", kan_op._BASES, kan_op._bases_geometry(m, n_in, kt, q, cp, 3, True, 1, True, a.dtype), moved,
                dict(x_ptr=x, grid_ptr=grid, a_ptr=a)),
               ("dX from dA", kan_op._DX_BASES, kan_op._dx_bases_geometry(m, n_in, kt, q, cp, 3, True, 1, True,
                                                                         da.dtype),
                moved_dx, dict(da_ptr=da, x_ptr=x, grid_ptr=grid, dx_ptr=dx))]
    for name, launcher, shipped, gb, tensors in kernels:
        tiles = launcher.arguments(shipped)
        print(f"## {name} tiles (uniform): BM columns warps -> ms, TB/s ({gb * 1e3:.0f} MB moved)")
        configs = [(tiles["BM"], tiles["BI"] * cp, shipped.num_warps, "shipped")]
        configs += [(bm, cols, warps, "")
                    for bm, cols, warps in itertools.product((32, 64, 128), (128, 256, 512), (4, 8))
                    if bm * cols <= 32768]
        for bm, cols, warps, label in configs:
            bi = max(1, cols // cp)
            launch = launcher.rebind(shipped, grid=(triton.cdiv(m, bm), triton.cdiv(n_in, bi)), num_warps=warps, BM=bm,
                                     BI=bi)
            try:
                ms = bench(lambda: launcher(launch, **tensors))
                print(f"{name} {bm} {cols} {warps} {label}: {ms:.4f} ms, {gb / ms:.2f} TB/s")
            except Exception as e:  # out of registers / shared memory
                print(f"{name} {bm} {cols} {warps}: failed {type(e).__name__}")


def sweep_dw(m, n_in, n_out, kt, q, cp, x, gy, grid, bns, bks, splits, stages=(None,), n2=0, bms=(64,), check=False):
    """Times the weight-grad kernel (partials only, no unpack) over rows ``bms``, output tiles ``bns``, (input,
    coefficient) tiles ``bks``, 4 or 8 warps, ``splits`` partials and ``stages`` (None: the shipped stages); ``n2`` and
    ``check`` (the partials' sums against the shipped kernel's) as in ``sweep_fwd``."""
    dwl, n_split = kan_op._dw_geometry(m, n_in, n_out, kt, q, cp, 3, True, 1, True, torch.bfloat16, "tf32")
    ref = kan_op._launch_dw(gy, x, grid, kt, cp, 3, True, 1, True).sum(0) if check else None
    shipped = kan_op._DW.arguments(dwl)
    print(f"## weight-grad tiles (uniform{f', second output piece {n2}' if n2 else ''}): BM BN BK warps split [stages] "
          "-> ms")
    part = torch.empty((n_split, kt, n_out), device="cuda")
    timed(f"dw shipped {shipped['BM']} {shipped['BN']}+{shipped['N2']} {shipped['BI'] * cp} {dwl.num_warps} {n_split} "
          f"{dwl.num_stages}", lambda: kan_op._DW(dwl, gy_ptr=gy, x_ptr=x, grid_ptr=grid, part_ptr=part), part, ref)
    for bm, bn, bk, warps, split, st in itertools.product(bms, bns, bks, (4, 8), splits, stages):
        nsb = triton.cdiv(n_in, bk // cp)
        swept = torch.empty((split, kt, n_out), device="cuda")
        n_tiles = 1 if n2 else triton.cdiv(n_out, bn)
        launch = kan_op._DW.rebind(dwl, grid=(nsb + triton.cdiv(n_in, 64), n_tiles, split), num_warps=warps,
                                   num_stages=st, BM=bm, BN=bn, N2=n2, BI=bk // cp, NSB=nsb, SPLIT=split)
        timed(f"dw {bm} {bn} {bk} {warps} {split}" + (f" {st}" if st else ""),
              lambda: kan_op._DW(launch, gy_ptr=gy, x_ptr=x, grid_ptr=grid, part_ptr=swept), swept, ref)


if __name__ == "__main__":
    if "--graph" in sys.argv:
        sys.argv.remove("--graph")
        GRAPH_CALLS = 20
    args = list(map(int, sys.argv[1:]))
    if len(args) > 3 and args[3] not in SWEEPS:
        sys.exit(f"SWEEP must be one of {SWEEPS} (see this script's docstring), got {args[3]}")
    main(*args)
