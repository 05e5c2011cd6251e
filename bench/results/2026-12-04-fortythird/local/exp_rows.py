"""Experiment (forty-third session): rows_h2's bases and dX-from-dA kernels in their modes against the shipped ones at
ViT-tiny/4's layer inputs (batch 512: 33280 rows; fc1's 192 inputs, fc2's 80; bf16 A, fp32 X), as CUDA graphs, 3
interleaved rounds; each result compared with the shipped kernel's.
Usage: PYTHONPATH=.:bench/results/2026-12-04-fortysecond/local:bench/results/2026-12-04-fortythird/local python exp_rows.py"""
import statistics
import torch
import triton
from vkan import KANLinear
from vkan.bench import graph_calls_ms
from vkan.ops import kan_op
from rows_h2 import bases_exp_kernel, dxb_exp_kernel

triton.set_allocator(lambda size, align, stream: torch.empty(size, dtype=torch.int8, device="cuda"))
m, cp = 33280, 8


def compare(got, want):
    return (f"differing {(got != want).float().mean().item():.2e}, largest difference over largest "
            f"{((got.float() - want.float()).abs().max() / want.float().abs().max()).item():.1e}")


def timed(label, fns):
    t = {k: [] for k in fns}
    for _ in range(3):
        for k, fn in fns.items():
            t[k].append(graph_calls_ms(fn))
    for k, v in t.items():
        print(f"{label} {k}: {statistics.median(v):.4f} ms ({' '.join(f'{u:.4f}' for u in v)})", flush=True)


for n_in in (192, 80):
    layer = KANLinear(n_in, 16).cuda()
    grid, kt = layer.grid, n_in * (cp + 1)
    x = torch.randn(m, n_in, device="cuda")
    want = kan_op._launch_bases(x, grid, kt, cp, 3, True, 1, True, torch.bfloat16)
    fns = {"shipped": lambda: kan_op._launch_bases(x, grid, kt, cp, 3, True, 1, True, torch.bfloat16)}
    for mode in range(4):
        a = torch.zeros(m, kt, device="cuda", dtype=torch.bfloat16)

        def run(mode=mode, a=a):
            bases_exp_kernel[(triton.cdiv(m, 64), triton.cdiv(n_in, 32))](
                x, grid, a, m, n_in, n_in, kt, Q=grid.shape[1], CP=cp, ACT=1, BM=64, BI=32, MODE=mode, num_warps=4,
                num_stages=1)
            return a
        try:
            run()
            print(f"bases {n_in} mode {mode}: {compare(run(), want)}", flush=True)
            fns[f"mode {mode}"] = run
        except Exception as e:
            print(f"bases {n_in} mode {mode}: {type(e).__name__}: {str(e)[:300]}", flush=True)
    timed(f"bases {n_in}", fns)

n_in = 80
layer = KANLinear(n_in, 16).cuda()
grid, kt = layer.grid, n_in * (cp + 1)
x = torch.randn(m, n_in, device="cuda")
da = torch.randn(m, kt, device="cuda", dtype=torch.bfloat16)
want = kan_op._launch_dx_bases(da, x, grid, cp, 3, True, 1, True)
fns = {"shipped": lambda: kan_op._launch_dx_bases(da, x, grid, cp, 3, True, 1, True)}
for mode in range(3):
    def run(mode=mode, dx=torch.empty_like(x)):
        dxb_exp_kernel[(triton.cdiv(m, 32), triton.cdiv(n_in, 16))](
            da, x, grid, dx, m, n_in, kt, n_in, n_in, Q=grid.shape[1], CP=cp, ACT=1, BM=32, BI=16, MODE=mode,
            num_warps=4, num_stages=1)
        return dx
    print(f"dx_bases {n_in} mode {mode}: {compare(run(), want)}", flush=True)
    fns[f"mode {mode}"] = run
timed(f"dx_bases {n_in}", fns)
