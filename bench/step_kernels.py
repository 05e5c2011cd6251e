"""GPU time of one training step, kernel by kernel, KAN against its MLP twin: where the compiled step's gap lies.

    PYTHONPATH=. python bench/step_kernels.py [--models tiny32,small224] [--paths auto-keep] [--mode default|eager]

For each ``vkan.bench`` config this builds the twins (``vkan.bench.twins``, the KAN model on each of ``--paths``),
compiles each training step as ``vkan.bench`` does (``--mode default``: the kernels that CUDA graphs replay, without
the graphs; ``eager``: no compile), runs a few steps, then records ``--steps`` steps with torch.profiler and sums each
kernel's GPU time. It prints, per twin, ms of kernel time a step by kind (``kind``: the KAN layer's own kernels,
cuBLAS products, attention, Inductor's generated kernels, the optimizer, the rest) and the heaviest kernels, and
the KAN model's time by kind minus the MLP's. Kernel time excludes idle gaps, so it is what CUDA graphs leave.
"""
import argparse
import collections

import torch
import torch.nn as nn

from vkan.bench import MODEL_CONFIGS, twins

# (kind, substrings of a kernel name, lower case), first match wins; the KAN layer's own kernels are the ones whose
# names start with vkan.ops.triton_kan's "kan_" (Inductor names its generated kernels after the ops they fuse)
KINDS = (
    ("kan", ()),
    ("optimizer", ("adam", "multi_tensor")),
    ("attention", ("flash", "fmha", "attention", "sdpa", "cudnn")),
    ("matmul", ("gemm", "nvjet", "cutlass", "xmma", "sm90_", "cublas", "splitk")),
    ("inductor", ("triton_",)),
)


def kind(name: str) -> str:
    """The kind of a CUDA kernel by its name (``KINDS``), "other" for the rest (eager elementwise ops, copies)."""
    low = name.lower()
    if low.startswith("kan_"):
        return "kan"
    return next((k for k, keys in KINDS if any(s in low for s in keys)), "other")


def kernel_ms(step, steps: int):
    """{kernel name: ms of GPU time a step} over ``steps`` profiled calls of ``step``."""
    from torch.autograd import DeviceType

    torch.cuda.synchronize()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        for _ in range(steps):
            step()
        torch.cuda.synchronize()
    total = collections.Counter()
    for event in prof.events():
        if event.device_type == DeviceType.CUDA:
            total[event.name] += event.time_range.elapsed_us() / 1e3 / steps
    return total


def by_kind(kernels):
    """{kind: ms} of ``kernel_ms``'s result, every kind present."""
    out = {k: 0.0 for k, _ in KINDS}
    out["other"] = 0.0
    for name, ms in kernels.items():
        out[kind(name)] += ms
    return out


def train_step(model: nn.Module, config: str, mode: str):
    """``vkan.bench``'s training step of ``model`` (AdamW fused, bf16 autocast, random batch), compiled in ``mode``."""
    _, _, img, batch, chans = MODEL_CONFIGS[config]
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
    run = model if mode == "eager" else torch.compile(model, mode=None if mode == "default" else mode)
    x = torch.randn(batch, chans, img, img, device="cuda")
    y = torch.randint(0, 10, (batch,), device="cuda")

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = nn.functional.cross_entropy(run(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return step


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default="tiny32,small224")
    parser.add_argument("--paths", default="auto-keep", help="comma list of KAN kernel paths (kan_op.PATHS)")
    parser.add_argument("--mode", default="default", help="a torch.compile mode, or eager")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--top", type=int, default=12, help="heaviest kernels listed per twin")
    args = parser.parse_args()
    config_ = torch._dynamo.config
    key = "recompile_limit" if hasattr(config_, "recompile_limit") else "cache_size_limit"
    setattr(config_, key, max(getattr(config_, key), 64))  # the twins share timm's code objects
    for config in args.models.split(","):
        kinds = {}
        for label, model in twins(config, args.paths.split(",")):
            step = train_step(model.cuda().train(), config, args.mode)
            for _ in range(3):
                step()
            kernels = kernel_ms(step, args.steps)
            kinds[label] = by_kind(kernels)
            print(f"## {config} {label} ({args.mode}): {sum(kernels.values()):.3f} ms of kernels a step, "
                  f"{sum(1 for _ in kernels)} distinct kernels", flush=True)
            print("   by kind: " + ", ".join(f"{k} {ms:.3f}" for k, ms in kinds[label].items()))
            for name, ms in kernels.most_common(args.top):
                print(f"   {ms:7.3f} ms  {kind(name):9s} {name[:110]}")
            del step, model
            torch.cuda.empty_cache()
        mlp = kinds.pop("mlp")
        for label, k in kinds.items():
            diff = {name: k[name] - mlp[name] for name in k}
            print(f"## {config} {label} minus mlp: total {sum(diff.values()):+.3f} ms; "
                  + ", ".join(f"{name} {ms:+.3f}" for name, ms in diff.items()), flush=True)


if __name__ == "__main__":
    main()
