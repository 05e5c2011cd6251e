"""Experiment for the device (prepared in the forty-third session, not yet run): the compiled tiny/4 training step under
CUDA graphs ("auto-keep"), the MLP twin against KAN with the GEMM path's weight-grad product over the shipped row blocks
(8 at both layers) and over 4 at fc1 (192 -> 80; the forty-second session's layer timing: 0.0364 ms against 0.0383,
fc2 fastest at 8), ``kan_op._dw_row_blocks`` replaced while that model compiles, each build with its own inductor
options (all at their defaults) so that dynamo compiles it anew; 3 interleaved rounds, one process.
Usage: TORCHINDUCTOR_FX_GRAPH_CACHE=0 TORCHINDUCTOR_AUTOGRAD_CACHE=0 PYTHONPATH=. python exp_blocks_model.py ROUNDS"""
import statistics
import sys
import time

import torch
from torch import nn
from vkan import bench
from vkan.ops import kan_op

SHIPPED = kan_op._dw_row_blocks


def fc1_at_4(m, kt, n_out):
    return 4 if n_out == 80 and m % 4 == 0 else SHIPPED(m, kt, n_out)


kan_name, mlp_name, img, batch, chans = bench.MODEL_CONFIGS["tiny32"]
builds = [("mlp", mlp_name, SHIPPED, {}),
          ("kan as shipped", kan_name, SHIPPED, {"max_autotune_gemm": False}),
          ("kan, fc1's weight grad over 4 row blocks", kan_name, fc1_at_4, {"max_autotune_pointwise": False})]
bench.fresh_compiles(len(builds))
bench.warm_up_gpu()
steps = {}
for label, name, rule, options in builds:
    kan_op._dw_row_blocks = rule
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
kan_op._dw_row_blocks = SHIPPED
ms = {label: [] for label in steps}
for _ in range(int(sys.argv[1])):
    for label, step in steps.items():
        ms[label].append(bench.triton_time_ms(step, rep_ms=300))
for label, v in ms.items():
    ratio, low, high = bench.per_round_ratios(ms["mlp"], v)
    print(f"{label}: step ms {statistics.median(v):.3f} (rounds {' '.join(f'{s:.3f}' for s in v)}), "
          f"vs mlp {ratio:.4f} ({low:.4f}-{high:.4f})", flush=True)
