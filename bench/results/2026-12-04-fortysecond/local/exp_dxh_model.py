"""Experiment for the device (prepared, not yet run): the compiled tiny/4 training step under CUDA graphs, the MLP twin
against the KAN model with fc1's held-columns input grad as shipped and with its derivatives in packed fp16
(``dx_rows_h2.py``, swapped into ``kan_op._DX_ROWS`` while that model compiles), 3 interleaved rounds, one process;
first fc1's dX of both kernels compared (largest |difference| over largest |dX|) and timed as CUDA graphs.
Usage: PYTHONPATH=.:bench/results/2026-12-04-fortysecond/local python exp_dxh_model.py ROUNDS"""
import statistics, sys, time
import torch
from torch import nn
from vkan import KANLinear, bench
from vkan.bench import graph_calls_ms
from vkan.ops import kan_op
from vkan.ops.launch import Launcher
from dx_rows_h2 import kan_dx_rows_h2_kernel

SHIPPED = kan_op._DX_ROWS
H2 = Launcher(kan_dx_rows_h2_kernel, SHIPPED.tensor_names)
m, n_in, n_out = 33280, 192, 80
layer = KANLinear(n_in, n_out).cuda()
_, wt, cp = kan_op._pack(*(p.detach() for p in (layer.spline_weight, layer.spline_scaler, layer.base_weight)),
                         torch.bfloat16)
x = torch.randn(m, n_in, device="cuda")
gy = torch.randn(m, n_out, device="cuda", dtype=torch.bfloat16)
fns = {}
for label, launcher in (("shipped", SHIPPED), ("packed fp16", H2)):
    kan_op._DX_ROWS = launcher
    fns[label] = lambda launcher=launcher: (setattr(kan_op, "_DX_ROWS", launcher),
                                            kan_op._launch_dx_rows(gy, x, layer.grid, wt, cp, 3, True, 1, True))[1]
want, got = fns["shipped"](), fns["packed fp16"]()
print(f"fc1 dX max rel {((got - want).abs().max() / want.abs().max()).item():.1e}", flush=True)
t = {label: [] for label in fns}
for _ in range(3):
    for label, fn in fns.items():
        t[label].append(graph_calls_ms(fn))
print("fc1 input grad: " + ", ".join(f"{k} {statistics.median(v):.4f} ms" for k, v in t.items()), flush=True)
rounds = int(sys.argv[1])
kan_name, mlp_name, img, batch, chans = bench.MODEL_CONFIGS["tiny32"]
builds = [("mlp", mlp_name, SHIPPED, {"triton.cudagraphs": True}),
          ("kan, dX as shipped", kan_name, SHIPPED, {"triton.cudagraphs": True, "max_autotune_gemm": False}),
          ("kan, dX in packed fp16", kan_name, H2, {"triton.cudagraphs": True, "max_autotune_pointwise": False})]
bench.fresh_compiles(len(builds))
bench.warm_up_gpu()
steps = {}
for label, name, launcher, options in builds:
    kan_op._DX_ROWS = launcher
    model = bench.bench_model(name, img, chans, kernel_path="auto-keep").cuda().train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
    run = torch.compile(model, options=options)
    xb = torch.randn(batch, chans, img, img, device="cuda")
    yb = torch.randint(0, 10, (batch,), device="cuda")

    def step(run=run, opt=opt, xb=xb, yb=yb):
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = nn.functional.cross_entropy(run(xb), yb)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    t0 = time.perf_counter()
    for _ in range(3):
        step()
    torch.cuda.synchronize()
    print(f"{label}: warm-up {time.perf_counter() - t0:.1f} s", flush=True)
    steps[label] = step
kan_op._DX_ROWS = SHIPPED
ms = {label: [] for label in steps}
for _ in range(rounds):
    for label, step in steps.items():
        ms[label].append(bench.triton_time_ms(step, rep_ms=300))
for label, v in ms.items():
    ratios = [b / s for b, s in zip(ms["mlp"], v)]
    print(f"{label}: step ms {statistics.median(v):.3f} (rounds {' '.join(f'{s:.3f}' for s in v)}), "
          f"vs mlp {statistics.median(ratios):.4f} ({min(ratios):.4f}-{max(ratios):.4f})", flush=True)
