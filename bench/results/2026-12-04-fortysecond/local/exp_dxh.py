"""Experiment for the device (prepared, not yet run): ``dxh_kernel`` in its four modes against the shipped
held-columns input grad at ViT-tiny's fc1 (33280x192->80, bf16 dY and W^T, fp32 X), as CUDA graphs, 3 interleaved
rounds, each dX compared with the shipped kernel's (largest |difference| over largest |dX|).
Usage: PYTHONPATH=.:bench/results/2026-12-04-fortysecond/local python exp_dxh.py"""
import statistics
import torch
from vkan import KANLinear
from vkan.bench import graph_calls_ms
from vkan.ops import kan_op
from dxh_kernel import dxh_kernel

m, n_in, n_out = 33280, 192, 80
layer = KANLinear(n_in, n_out).cuda()
sw, sc, bw = (p.detach() for p in (layer.spline_weight, layer.spline_scaler, layer.base_weight))
_, wt, cp = kan_op._pack(sw, sc, bw, torch.bfloat16)
grid = layer.grid
x = torch.randn(m, n_in, device="cuda")
gy = torch.randn(m, n_out, device="cuda", dtype=torch.bfloat16)
want = kan_op._launch_dx_rows(gy, x, grid, wt, cp, 3, True, 1, True)
shipped = kan_op._dx_rows_geometry(m, n_in, n_out, wt.shape[1], grid.shape[1], cp, 3, True, 1, True, torch.bfloat16,
                                   "tf32")
fns = {"shipped": lambda: kan_op._launch_dx_rows(gy, x, grid, wt, cp, 3, True, 1, True)}
for mode in range(4):
    def run(mode=mode, dx=torch.empty_like(x)):
        dxh_kernel[shipped.grid](gy, x, grid, wt, dx, m, n_in, n_out, n_out, n_in, wt.shape[1], n_in, Q=grid.shape[1],
                                 CP=cp, ACT=1, BM=64, BI=16, K1=64, K2=16, MODE=mode, num_warps=4, num_stages=3)
        return dx
    err = ((run() - want).abs().max() / want.abs().max()).item()
    print(f"mode {mode}: dX max rel {err:.1e}", flush=True)
    fns[f"mode {mode}"] = run
t = {label: [] for label in fns}
for _ in range(3):
    for label, fn in fns.items():
        t[label].append(graph_calls_ms(fn))
for label, v in t.items():
    print(f"{label}: {statistics.median(v):.4f} ms ({' '.join(f'{u:.4f}' for u in v)})", flush=True)
