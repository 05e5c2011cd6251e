"""Experiment for the device (prepared, not yet run): the compiled tiny/4 training step under CUDA graphs, the MLP twin
against the KAN model with fc1's held-columns input grad as shipped and with its derivatives in packed fp16
(``dxh_kernel.kan_dx_rows_h2_kernel``, put in ``kan_op._DX_ROWS`` while that model compiles), 3 interleaved rounds,
one process; first fc1's dX of both kernels compared (largest |difference| over largest |dX|) and timed as CUDA
graphs. Usage: TORCHINDUCTOR_FX_GRAPH_CACHE=0 TORCHINDUCTOR_AUTOGRAD_CACHE=0
PYTHONPATH=.:bench/results/2026-12-04-fortysecond/local python exp_dxh_model.py ROUNDS (no cached graph may stand in
for the second KAN model's). Forty-third session: run in its call 1, this script timed the same compiled graph twice:
both KAN models went through one torch.compile mode, so dynamo reused the first model's graph for the second and never
compiled the swapped kernel (its multi-line PTX string would have failed in inductor's generated code); the forty-third
session's exp_model.py gives each build its own inductor options)"""
import statistics
import sys

import torch
from vkan import KANLinear, bench
from vkan.ops import kan_op
from vkan.ops.launch import Launcher
from dxh_kernel import kan_dx_rows_h2_kernel

SHIPPED = kan_op._DX_ROWS
LAUNCHERS = {"shipped": SHIPPED, "packed fp16": Launcher(kan_dx_rows_h2_kernel, SHIPPED.tensor_names)}
m, n_in, n_out = 33280, 192, 80
layer = KANLinear(n_in, n_out).cuda()
_, wt, cp = kan_op._pack(*(p.detach() for p in (layer.spline_weight, layer.spline_scaler, layer.base_weight)),
                         torch.bfloat16)
x = torch.randn(m, n_in, device="cuda")
gy = torch.randn(m, n_out, device="cuda", dtype=torch.bfloat16)
launch = kan_op._dx_rows_geometry(m, n_in, n_out, wt.shape[1], layer.grid.shape[1], cp, 3, True, 1, True,
                                  torch.bfloat16, "tf32")
dx = {label: torch.empty_like(x) for label in LAUNCHERS}
fns = {label: (lambda f=f, out=dx[label]: f(launch, gy_ptr=gy, x_ptr=x, grid_ptr=layer.grid, wt_ptr=wt, dx_ptr=out))
       for label, f in LAUNCHERS.items()}
for fn in fns.values():
    fn()
want, got = dx["shipped"], dx["packed fp16"]
print(f"fc1 dX max rel {((got - want).abs().max() / want.abs().max()).item():.1e}", flush=True)
t = {label: [] for label in fns}
for _ in range(3):
    for label, fn in fns.items():
        t[label].append(bench.graph_calls_ms(fn))
print("fc1 input grad: " + ", ".join(f"{k} {statistics.median(v):.4f} ms" for k, v in t.items()), flush=True)

kan_name, mlp_name, img, batch, chans = bench.MODEL_CONFIGS["tiny32"]
builds = [("mlp", mlp_name, "shipped"), ("kan, dX as shipped", kan_name, "shipped"),
          ("kan, dX in packed fp16", kan_name, "packed fp16")]
bench.fresh_compiles(len(builds))
bench.warm_up_gpu()
steps = {}
for label, name, kernels in builds:
    kan_op._DX_ROWS = LAUNCHERS[kernels]  # read while the model's first steps compile it
    model = bench.bench_model(name, img, chans, kernel_path="auto-keep").cuda().train()
    step, _ = bench.train_step(model, img, batch, chans, "reduce-overhead")
    for _ in range(3):
        step()
    torch.cuda.synchronize()
    steps[label] = step
kan_op._DX_ROWS = SHIPPED
ms = {label: [] for label in steps}
for _ in range(int(sys.argv[1])):
    for label, step in steps.items():
        ms[label].append(bench.triton_time_ms(step, rep_ms=300))
for label, v in ms.items():
    ratio, low, high = bench.per_round_ratios(ms["mlp"], v)
    print(f"{label}: step ms {statistics.median(v):.3f} (rounds {' '.join(f'{s:.3f}' for s in v)}), "
          f"vs mlp {ratio:.4f} ({low:.4f}-{high:.4f})", flush=True)
