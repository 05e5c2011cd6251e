"""What exp_model.py and exp_blocks_model.py share: the compiled tiny/4 training step under CUDA graphs ("auto-keep"),
built once per variant with some of ``kan_op``'s attributes replaced while it compiles, and timed in interleaved
rounds in one process. Each build passes its own inductor options (all at their defaults), so that dynamo compiles it
anew instead of reusing the previous KAN model's graphs (the forty-second session's exp_dxh_model.py did not)."""
import statistics
import time

import torch
from torch import nn
from vkan import bench
from vkan.ops import kan_op

DISTINCT_OPTIONS = [{}, {"max_autotune_gemm": False}, {"max_autotune_pointwise": False}, {"max_autotune": False},
                    {"coordinate_descent_tuning": False}]


def compare(builds, rounds: int) -> None:
    """``builds``: (label, "mlp" or "kan", {kan_op attribute: value while it compiles}); the first is the base of the
    printed ratios. At most ``len(DISTINCT_OPTIONS)`` builds."""
    kan_name, mlp_name, img, batch, chans = bench.MODEL_CONFIGS["tiny32"]
    bench.fresh_compiles(len(builds))
    bench.warm_up_gpu()
    steps = {}
    for (label, kind, patches), options in zip(builds, DISTINCT_OPTIONS, strict=False):
        shipped = {k: getattr(kan_op, k) for k in patches}
        for k, v in patches.items():
            setattr(kan_op, k, v)
        try:
            model = bench.bench_model(kan_name if kind == "kan" else mlp_name, img, chans,
                                      kernel_path="auto-keep").cuda().train()
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
        finally:
            for k, v in shipped.items():
                setattr(kan_op, k, v)
        print(f"{label}: warm-up {time.perf_counter() - t0:.1f} s, graphs compiled so far "
              f"{torch._dynamo.utils.counters['stats']['unique_graphs']}", flush=True)
        steps[label] = step
    ms = {label: [] for label in steps}
    for _ in range(rounds):
        for label, step in steps.items():
            ms[label].append(bench.triton_time_ms(step, rep_ms=300))
    base = ms[builds[0][0]]
    for label, v in ms.items():
        ratio, low, high = bench.per_round_ratios(base, v)
        print(f"{label}: step ms {statistics.median(v):.3f} (rounds {' '.join(f'{s:.3f}' for s in v)}), "
              f"vs {builds[0][0]} {ratio:.4f} ({low:.4f}-{high:.4f})", flush=True)
