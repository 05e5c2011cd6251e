"""Experiment: the GEMM path's weight-grad product at ViT-tiny's fc1 (A 33280 x 1728 bf16, dY 33280 x 80) and fc2
(33280 x 720, dY 33280 x 192) over 2-16 row blocks (``_dw_product``; the rule picks 8 at both), product + unpack as
CUDA graphs, 3 interleaved rounds. Usage: python exp_blocks.py"""
import statistics
import torch
from vkan import KANLinear
from vkan.bench import graph_calls_ms
from vkan.ops import kan_op

for m, n_in, n_out in ((33280, 192, 80), (33280, 80, 192)):
    layer = KANLinear(n_in, n_out).cuda()
    sw, sc, bw = (p.detach() for p in (layer.spline_weight, layer.spline_scaler, layer.base_weight))
    _, wt, cp = kan_op._pack(sw, sc, bw, torch.bfloat16, with_w=False)
    x = torch.randn(m, n_in, device="cuda")
    a = kan_op._launch_bases(x, layer.grid, wt.shape[1], cp, 3, True, 1, True, torch.bfloat16)
    gy = torch.randn(m, n_out, device="cuda", dtype=torch.bfloat16)
    print(f"## {m}x{n_in}->{n_out}: rule {kan_op._dw_row_blocks(m, wt.shape[1], n_out)} blocks", flush=True)
    want = kan_op._unpack(kan_op._dw_product(a, gy, 1), sw, sc, bw, cp)
    fns = {f"{s} blocks": (lambda s=s: kan_op._unpack(kan_op._dw_product(a, gy, s), sw, sc, bw, cp))
           for s in (2, 4, 8, 16)}
    for label, fn in fns.items():
        got = fn()
        print(label, "grads max rel vs 1 block:", " ".join(
            f"{((g - w).abs().max() / w.abs().max()).item():.1e}" for g, w in zip(got, want)), flush=True)
    t = {label: [] for label in fns}
    for _ in range(3):
        for label, fn in fns.items():
            t[label].append(graph_calls_ms(fn))
    for label, v in t.items():
        print(f"{label}: {statistics.median(v):.4f} ms ({' '.join(f'{u:.4f}' for u in v)})", flush=True)
