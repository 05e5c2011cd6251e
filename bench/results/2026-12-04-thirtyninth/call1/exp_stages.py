"""Experiment (not shipped): a compiled (CUDA graphs) training step of a MODEL_CONFIGS twin pair with the fused
kernels' pipeline stages changed, side by side with the shipped KAN model and the MLP twin, interleaved rounds, one
process. Usage: python exp_stages.py CONFIG ROUNDS VARIANT... with VARIANT like "fwd=2" or "fwd=2,dw=2" (kernel:
_fwd/_dx/_dw geometry's num_stages while that model compiles)."""
import statistics, sys, time
import torch
from vkan import bench
from vkan.ops import kan_op

NAMES = {"fwd": "_fwd_geometry", "dx": "_dx_geometry", "dw": "_dw_geometry"}
ORIG = {n: getattr(kan_op, n) for n in NAMES.values()}
STAGES = {}
CALLS = {n: 0 for n in NAMES.values()}


def patched(name):
    def geometry(*args):
        out = ORIG[name](*args)
        st = STAGES.get(name)
        if st is None:
            return out
        CALLS[name] += 1
        if name == "_fwd_geometry":
            return out._replace(num_stages=st)
        return (out[0]._replace(num_stages=st),) + tuple(out[1:])
    return geometry


for n in NAMES.values():
    setattr(kan_op, n, patched(n))

config, rounds, variants = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
kan_name, mlp_name, img, batch, chans = bench.MODEL_CONFIGS[config]
builds = {"mlp": (mlp_name, {}), "kan": (kan_name, {})}
for v in variants:
    builds[f"kan {v}"] = (kan_name, {k: int(s) for k, s in (p.split("=") for p in v.split(","))})
bench.fresh_compiles(len(builds))
bench.warm_up_gpu()
steps = {}
for label, (name, stages) in builds.items():
    STAGES.clear()
    STAGES.update({NAMES[k]: s for k, s in stages.items()})
    for n in CALLS:
        CALLS[n] = 0
    model = bench.bench_model(name, img, chans, kernel_path="auto-keep").cuda().train()
    step, opt = bench.train_step(model, img, batch, chans, "reduce-overhead")
    t0 = time.perf_counter()
    for _ in range(3):
        step()
    torch.cuda.synchronize()
    print(f"{label}: warm-up {time.perf_counter() - t0:.1f} s, patched geometry calls {dict(CALLS)}", flush=True)
    STAGES.clear()
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
