"""Where a training step's time goes: host (Python, autograd, launches) vs GPU, for a KAN layer and ViT twins.

    PYTHONPATH=. python bench/host_probe.py [--profile]
    PYTHONPATH=. python bench/host_probe.py --skip-layers --models tiny32,small224,base224 --paths auto,gemm-keep

For each case it prints three times per step: ``gpu-bound`` (median of ``triton.testing.do_bench``, as
``vkan.bench`` times it: a wall time, host stalls included), ``host`` (time to enqueue one step from an idle queue:
when it is well above the kernels' time the step is host-bound; close to it, the probe cannot tell, since a step of
more launches than the queue holds waits on the GPU), and ``graph`` (the same step replayed as one CUDA graph:
kernels only). Layers: KANLinear (fused path) against ``nn.Linear``; ``--models``: eager training steps of the ViT
twins (``vkan.bench.twins``), the KAN model on each of ``--paths``. ``--profile`` adds torch.profiler tables of the
layer step sorted by host time, and the model steps' Python functions by their own time. A model row's ``mlp/this``
is the median of the per-round ratios of gpu-bound times (not the ratio of the printed medians).
"""
import argparse
import cProfile
import pstats
import statistics
import time

import torch
import torch.nn as nn
from vkan import KANLinear
from vkan.bench import MODEL_CONFIGS, graph_time_ms, train_step, triton_time_ms, twins


def host_ms(step, n=100):
    """Milliseconds of host time per call of ``step`` when nothing waits on the GPU."""
    step()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(n):
        step()
    t1 = time.perf_counter()
    torch.cuda.synchronize()
    return (t1 - t0) / n * 1e3


def graph_ms(step):
    """Milliseconds per replay of ``step`` captured as one CUDA graph."""
    ms, err = graph_time_ms(step)
    if err:
        raise RuntimeError(err)
    return ms


def report(name, step):
    gpu = triton_time_ms(step, rep_ms=200)
    host = host_ms(step)
    g = graph_ms(step)
    print(f"{name:42s} gpu-bound {gpu:7.3f} ms  host {host:7.3f} ms  graph {g:7.3f} ms", flush=True)


def layer_step(module, x):
    g = torch.ones(x.shape[0], module.out_features, device="cuda")

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            y = module(x)
        y.backward(g)
    return step


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--models", default="", help="comma list of vkan.bench configs (tiny32, small224, base224): "
                        "their eager training steps")
    parser.add_argument("--paths", default="auto", help="comma list of KAN kernel paths for --models (kan_op.PATHS)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds for --models")
    parser.add_argument("--skip-layers", action="store_true")
    args = parser.parse_args()
    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    for _ in range(200):
        a @ a
    if not args.skip_layers:
        layers(args.profile)
    if args.models:
        for config in args.models.split(","):
            model_steps(config, args.paths.split(","), args.rounds, args.profile)


def model_steps(config: str, paths, rounds: int, profile: bool = False) -> None:
    """Eager training steps (``vkan.bench.train_step``, capturable) of a ``vkan.bench`` config's twins, the KAN model
    on each kernel path, in interleaved rounds: gpu-bound (``triton.testing.do_bench``), host (the median of 10 single
    steps' enqueue time, each from an idle queue; a step of more launches than the queue holds waits on the GPU, so a
    host time close to the kernels' cannot be told from a GPU-bound step) and graph (the same eager step's kernels
    replayed as one CUDA graph). ``profile``: then the Python functions of 10 steps of each by their own time
    (cProfile; time spent waiting on a full launch queue shows up in the calls that launch)."""
    _, _, img, batch, chans = MODEL_CONFIGS[config]
    steps = {}
    for label, model in twins(config, paths):
        steps[label], _ = train_step(model.cuda().train(), img, batch, chans, capturable=True)
        steps[label]()
    times = {label: {"gpu-bound": [], "host": [], "graph": []} for label in steps}
    for _ in range(rounds):
        for label, step in steps.items():
            times[label]["gpu-bound"].append(triton_time_ms(step, rep_ms=300))
            times[label]["host"].append(statistics.median(host_ms(step, 1) for _ in range(10)))
            times[label]["graph"].append(graph_ms(step))
    for label, t in times.items():
        cells = "  ".join(f"{k} {statistics.median(v):7.2f} ms {[round(x, 2) for x in v]}" for k, v in t.items())
        speed = statistics.median(m / k for m, k in zip(times["mlp"]["gpu-bound"], t["gpu-bound"]))
        print(f"{config} {label:14s} {cells}  gpu-bound mlp/this {speed:.3f}", flush=True)
    if profile:
        for label, step in steps.items():
            torch.cuda.synchronize()
            prof = cProfile.Profile()
            prof.runcall(lambda: [step() for _ in range(10)])
            torch.cuda.synchronize()
            print(f"{config} {label}: 10 steps, functions by own time")
            pstats.Stats(prof).sort_stats("tottime").print_stats(25)


def layers(profile: bool) -> None:
    """KANLinear against nn.Linear at ViT-tiny's widths and 192 -> 768, then one launch's host cost."""
    for m, n_in, n_out in [(16640, 192, 768), (33280, 192, 80), (33280, 80, 192)]:
        x = torch.randn(m, n_in, device="cuda", requires_grad=True)
        kan = KANLinear(n_in, n_out).cuda()
        params = sum(p.numel() for p in kan.parameters())
        lin = nn.Linear(n_in, round(params / n_in), bias=False).cuda()
        lin_same = nn.Linear(n_in, n_out, bias=False).cuda()
        report(f"{m}x{n_in}->{n_out} KANLinear fused", layer_step(kan, x))
        report(f"{m}x{n_in}->{n_out} nn.Linear same params", layer_step(lin, x))
        report(f"{m}x{n_in}->{n_out} nn.Linear same shape", layer_step(lin_same, x))
        if profile and n_out == 768:
            step = layer_step(kan, x)
            step()
            with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU,
                                                    torch.profiler.ProfilerActivity.CUDA]) as prof:
                for _ in range(20):
                    step()
                torch.cuda.synchronize()
            print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=30))
            print(prof.key_averages().table(sort_by="self_cuda_time_total", row_limit=20))
    from vkan.ops import kan_op
    kan = KANLinear(192, 768).cuda()
    x = torch.randn(64, 192, device="cuda")
    w, _, cp = kan_op._pack(kan.spline_weight, kan.spline_scaler, kan.base_weight, torch.bfloat16)
    launch_us = host_ms(lambda: kan_op._launch_fwd(x, kan.grid, w, cp, 3, True, 1, True), 1000) * 1e3
    print(f"one forward-kernel launch (tiny input): host {launch_us:.1f} us")
    print(f"one torch.add (tiny input): host {host_ms(lambda: x + 1, 1000) * 1e3:.1f} us")


if __name__ == "__main__":
    main()
