"""Experiment (forty-third session): the compiled tiny/4 training step under CUDA graphs ("auto-keep"), the MLP twin
against KAN with its row kernels as shipped and as rows_h2's variants (put in kan_op's launchers while that model
compiles; each build gets its own inductor options, all at their defaults, so that dynamo compiles it anew instead
of reusing the previous KAN model's graphs: the forty-second session's exp_dxh_model.py did not), 3 interleaved
rounds, one process. Usage: TORCHINDUCTOR_FX_GRAPH_CACHE=0 TORCHINDUCTOR_AUTOGRAD_CACHE=0
PYTHONPATH=.:bench/results/2026-12-04-fortysecond/local:bench/results/2026-12-04-fortythird/local python exp_model.py ROUNDS"""
import statistics
import sys
import time

import torch
from torch import nn
from vkan import bench
from vkan.ops import kan_op
from vkan.ops.launch import Launcher
from dxh_kernel import kan_dx_rows_h2_kernel
import rows_h2

SHIPPED = {k: getattr(kan_op, k) for k in ("_DX_ROWS", "_DX_BASES", "_BASES")}
ROWS_M1 = {"_DX_ROWS": Launcher(rows_h2.kan_dx_rows_m1_kernel, SHIPPED["_DX_ROWS"].tensor_names)}
ROWS_H2 = {"_DX_ROWS": Launcher(kan_dx_rows_h2_kernel, SHIPPED["_DX_ROWS"].tensor_names)}
ALL_H2 = dict(ROWS_H2, _DX_BASES=Launcher(rows_h2.kan_dx_bases_h2_kernel, SHIPPED["_DX_BASES"].tensor_names),
              _BASES=Launcher(rows_h2.kan_bases_h2_kernel, SHIPPED["_BASES"].tensor_names))
kan_name, mlp_name, img, batch, chans = bench.MODEL_CONFIGS["tiny32"]
builds = [("mlp", mlp_name, {}, {}),
          ("kan as shipped", kan_name, {}, {"max_autotune_gemm": False}),
          ("kan, dX rows with 1/h after the sum (fp32)", kan_name, ROWS_M1, {"max_autotune_pointwise": False}),
          ("kan, dX rows in packed fp16", kan_name, ROWS_H2, {"max_autotune": False}),
          ("kan, dX rows + dX from dA + bases in packed fp16", kan_name, ALL_H2, {"coordinate_descent_tuning": False})]
bench.fresh_compiles(len(builds))
bench.warm_up_gpu()
steps = {}
for label, name, kernels, options in builds:
    for k, v in dict(SHIPPED, **kernels).items():
        setattr(kan_op, k, v)
    model = bench.bench_model(name, img, chans, kernel_path="auto-keep").cuda().train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
    run = torch.compile(model, options=dict(options, **{"triton.cudagraphs": True}))
    x = torch.randn(batch, chans, img, img, device="cuda")
    y = torch.randint(0, 10, (batch,), device="cuda")

    def step(run=run, opt=opt, x=x, y=y):
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = nn.functional.cross_entropy(run(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    t0 = time.perf_counter()
    for _ in range(3):
        step()
    torch.cuda.synchronize()
    print(f"{label}: warm-up {time.perf_counter() - t0:.1f} s, graphs compiled so far "
          f"{torch._dynamo.utils.counters['stats']['unique_graphs']}", flush=True)
    steps[label] = step
for k, v in SHIPPED.items():
    setattr(kan_op, k, v)
ms = {label: [] for label in steps}
for _ in range(int(sys.argv[1])):
    for label, step in steps.items():
        ms[label].append(bench.triton_time_ms(step, rep_ms=300))
for label, v in ms.items():
    ratio, low, high = bench.per_round_ratios(ms["mlp"], v)
    print(f"{label}: step ms {statistics.median(v):.3f} (rounds {' '.join(f'{s:.3f}' for s in v)}), "
          f"vs mlp {ratio:.4f} ({low:.4f}-{high:.4f})", flush=True)
