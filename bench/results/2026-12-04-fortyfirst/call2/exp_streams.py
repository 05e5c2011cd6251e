"""Experiment: the compiled (CUDA graphs) training step of a MODEL_CONFIGS twin pair, the KAN model with each
feed-forward sublayer as one op (its weight grads on a second stream, as shipped) and as two layer calls (one
stream: KANMlp._one_op patched to decline on that model's sublayers), side by side with the MLP twin in interleaved
rounds, one process. Usage: python exp_streams.py CONFIG ROUNDS"""
import statistics, sys, time
import torch
from torch import nn
from vkan import bench
from vkan.mlp import KANMlp
from vkan.ops import kan_op

ONE_OP = KANMlp._one_op
KANMlp._one_op = lambda self, x: None if getattr(self, "two_calls", False) else ONE_OP(self, x)
pairs = []
PAIR = kan_op._pair_backward
kan_op._pair_backward = lambda *a: pairs.append(1) or PAIR(*a)
config, rounds = sys.argv[1], int(sys.argv[2])
kan_name, mlp_name, img, batch, chans = bench.MODEL_CONFIGS[config]
builds = [("mlp", mlp_name, False, {"triton.cudagraphs": True}),
          ("kan two calls (before)", kan_name, True, {"triton.cudagraphs": True, "max_autotune_gemm": False}),
          ("kan one op, side stream", kan_name, False, {"triton.cudagraphs": True, "max_autotune_pointwise": False})]
bench.fresh_compiles(len(builds))
bench.warm_up_gpu()
steps = {}
for label, name, two_calls, options in builds:
    pairs.clear()
    model = bench.bench_model(name, img, chans, kernel_path="auto-keep").cuda().train()
    for m in model.modules():
        if isinstance(m, KANMlp):
            m.two_calls = two_calls
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
    run = torch.compile(model, options=options)
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
    torch.cuda.reset_peak_memory_stats()
    step()
    torch.cuda.synchronize()
    print(f"{label}: warm-up {time.perf_counter() - t0:.1f} s, one-op backward calls {len(pairs)}, "
          f"peak {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB", flush=True)
    steps[label] = (step, model, opt)
ms = {label: [] for label in steps}
for _ in range(rounds):
    for label, (step, _, _) in steps.items():
        ms[label].append(bench.triton_time_ms(step, rep_ms=300))
base = ms["mlp"]
for label, t in ms.items():
    ratios = [b / v for b, v in zip(base, t)]
    print(f"{label}: step ms {statistics.median(t):.3f} (rounds {' '.join(f'{v:.3f}' for v in t)}), "
          f"img/s {batch / statistics.median(t) * 1e3:,.0f}, vs mlp {statistics.median(ratios):.4f} "
          f"({min(ratios):.4f}-{max(ratios):.4f})", flush=True)
