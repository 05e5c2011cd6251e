"""Experiment for the device (prepared, not yet run): fc1's forward at ViT-tiny/4 (33280x192->80, bf16, fp32 X) writing
A for the weight grad, as ``fwd_keep_tma.py``'s three modes, against the GEMM path's forward keeping A (bases kernel +
cuBLAS Y = A W^T, what "auto-keep" runs since the forty-second session), as CUDA graphs, 3 interleaved rounds; Y
compared with the shipped forward's, A with the bases kernel's.
Usage: PYTHONPATH=.:bench/results/2026-12-04-fortysecond/local python exp_fwd_keep.py"""
import statistics
import torch
import triton
from vkan import KANLinear
from vkan.bench import graph_calls_ms
from vkan.ops import kan_op
from fwd_keep_tma import fwd_keep_kernel

triton.set_allocator(lambda size, align, stream: torch.empty(size, dtype=torch.int8, device="cuda"))
m, n_in, n_out = 33280, 192, 80
layer = KANLinear(n_in, n_out).cuda()
w, wt, cp = kan_op._pack(*(p.detach() for p in (layer.spline_weight, layer.spline_scaler, layer.base_weight)),
                         torch.bfloat16)
kt, grid = w.shape[0], layer.grid
x = torch.randn(m, n_in, device="cuda")
y_want = kan_op._launch_fwd(x, grid, w, cp, 3, True, 1, True)
a_want = kan_op._launch_bases(x, grid, kt, cp, 3, True, 1, True, torch.bfloat16)
fns = {"GEMM path keeping A (bases + product)": lambda: torch.mm(
    kan_op._launch_bases(x, grid, kt, cp, 3, True, 1, True, torch.bfloat16), wt.t())}
for mode in range(3):
    y = torch.empty(m, n_out, device="cuda", dtype=torch.bfloat16)
    a = torch.zeros(m, kt, device="cuda", dtype=torch.bfloat16)

    def run(mode=mode, y=y, a=a):
        fwd_keep_kernel[(triton.cdiv(m, 64),)](x, grid, w, y, a, m, n_in, n_out, kt, n_in, n_out, n_out,
                                               Q=grid.shape[1], CP=cp, ACT=1, BM=64, BN=128, BI=16, BIB=64, MODE=mode,
                                               num_warps=4, num_stages=3)
        return y, a
    try:
        run()
        torch.cuda.synchronize()
        differ = (a != a_want).float().mean().item() if mode else float("nan")
        err = ((a.float() - a_want.float()).abs().max() / a_want.float().abs().max()).item() if mode else float("nan")
        print(f"mode {mode}: Y equal to the shipped forward's {torch.equal(y, y_want)}; A elements differing from the "
              f"bases kernel's {differ:.2e}, largest difference over largest {err:.1e}", flush=True)
        fns[f"mode {mode}"] = run
    except Exception as e:
        print(f"mode {mode}: {type(e).__name__}: {str(e)[:300]}", flush=True)
t = {label: [] for label in fns}
for _ in range(3):
    for label, fn in fns.items():
        t[label].append(graph_calls_ms(fn))
for label, v in t.items():
    print(f"{label}: {statistics.median(v):.4f} ms ({' '.join(f'{u:.4f}' for u in v)})", flush=True)
