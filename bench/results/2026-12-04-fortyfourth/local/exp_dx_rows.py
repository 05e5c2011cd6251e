"""Experiment for the device (prepared in the forty-fourth session, offline): dx_rows_exp's modes of the held-columns
input grad against the shipped input grad (``kan_op._input_grad`` on the GEMM path, as "auto-keep" runs it) at
ViT-tiny/4's fc1 (33280x192->80) and ViT-S/16's (25216x384->160), where it is the shipped held-columns kernel, and at
ViT-tiny/4's fc2 (33280x80->192), where it is cuBLAS's dA and the dX-from-dA kernel; bf16 dY and W^T, fp32 X, packed
derivatives; ms as CUDA graphs, 3 interleaved rounds; each dX compared with the shipped one and with the shipped
kernels' fp32 evaluation (packing switched off; largest difference over largest |dX|).

At both fc1 layers modes 0-4 run at the shipped launch (64 rows, 4 warps, 3 stages, about 264 programs: two an SM, 172
registers a thread allowing no third), and modes 3 and 4 also at other tiles: their 168 registers let three programs of
4 warps share an SM (about 396 programs), and 128 rows with 8 warps. At fc2 modes 0 and 4 run at the default tiles (232
and 255 registers, 130 KiB of shared memory: one program an SM). Usage, from the repository root:
L=bench/results/2026-12-04-fortyfourth/local; PYTHONPATH=.:$L python $L/exp_dx_rows.py"""
import statistics

import torch
from vkan import KANLinear
from vkan.bench import graph_calls_ms
from vkan.ops import kan_op
from dx_rows_exp import kan_dx_rows_exp_kernel

# (mode, (rows, warps, stages, programs)); () the default tiles of kan_op._dx_rows_geometry
FC1 = [(mode, ()) for mode in range(5)] + [(mode, tiles) for mode in (3, 4) for tiles in
                                           ((64, 4, 3, 396), (64, 4, 3, 528), (128, 8, 3, 264), (128, 8, 3, 396))]
FC2 = [(0, ()), (4, ())]

GEOMETRIES = (kan_op._dx_rows_geometry, kan_op._dx_bases_geometry)


def fp32_input_grad(*args):
    """The shipped input grad with its derivatives in fp32 (as on a GPU without PTX f16x2)."""
    shipped = kan_op._ptx_f16x2
    kan_op._ptx_f16x2 = lambda: False
    try:
        [g.cache_clear() for g in GEOMETRIES]
        return kan_op._input_grad(*args)
    finally:
        kan_op._ptx_f16x2 = shipped
        [g.cache_clear() for g in GEOMETRIES]  # nothing bound without packing stays cached


def off(got, want):
    return ((got - want).abs().max() / want.abs().max()).item()


for m, n_in, n_out, runs in ((33280, 192, 80, FC1), (25216, 384, 160, FC1), (33280, 80, 192, FC2)):
    layer = KANLinear(n_in, n_out).cuda()
    with torch.no_grad():
        layer.spline_weight.normal_(0, 0.1)
    _, wt, cp = kan_op._pack(layer.spline_weight, layer.spline_scaler, layer.base_weight, torch.bfloat16,
                             with_w=False)
    grid = layer.grid
    x = torch.randn(m, n_in, device="cuda")
    gy = torch.randn(m, n_out, device="cuda", dtype=torch.bfloat16)
    shape = (m, n_in, n_out, wt.shape[1], grid.shape[1], cp, 3, True, 1, True, torch.bfloat16, "tf32")
    held = kan_op._dx_rows_chosen(n_in, n_out, wt.shape[1], cp, torch.bfloat16, True)
    print(f"{m}x{n_in}->{n_out}: shipped input grad {'held columns' if held else 'dA product + dX from dA'}",
          flush=True)

    def shipped():
        return kan_op._input_grad(gy, x, grid, wt, cp, 3, True, 1, True, True)
    want, want32 = shipped(), fp32_input_grad(gy, x, grid, wt, cp, 3, True, 1, True, True)
    print(f"  shipped: dX off by {off(want, want32):.1e} from fp32", flush=True)
    fns = {"shipped": shipped}
    for mode, tiles in runs:
        launch = kan_op._dx_rows_geometry(*shape, *tiles)
        args = kan_op._DX_ROWS.arguments(launch)

        def run(mode=mode, launch=launch, args=args, dx=torch.empty_like(x)):
            kan_dx_rows_exp_kernel[launch.grid](gy, x, grid, wt, dx, *args.values(), MODE=mode,
                                                num_warps=launch.num_warps, num_stages=launch.num_stages)
            return dx
        label = f"mode {mode} at {args['BM']} rows, {launch.num_warps} warps, grid {launch.grid}"
        try:
            got = run()
            print(f"  {label}: dX off by {off(got, want):.1e} from the shipped, {off(got, want32):.1e} from fp32",
                  flush=True)
            fns[label] = run
        except Exception as e:  # a tile that does not fit (shared memory, registers) is reported, not timed
            print(f"  {label}: {type(e).__name__}: {str(e)[:200]}", flush=True)
    t = {k: [] for k in fns}
    for _ in range(3):
        for k, fn in fns.items():
            t[k].append(graph_calls_ms(fn))
    for k, v in t.items():
        print(f"  {k}: {statistics.median(v):.4f} ms ({' '.join(f'{u:.4f}' for u in v)})", flush=True)
