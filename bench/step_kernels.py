"""GPU time of one training step, kernel by kernel, KAN against its MLP twin: where the compiled step's gap lies.

    PYTHONPATH=. python bench/step_kernels.py [--models tiny32,small224] [--paths auto-keep] [--mode default|eager]

For each ``vkan.bench`` config this builds the twins (``vkan.bench.twins``, the KAN model on each of ``--paths``),
takes ``vkan.bench``'s training step of each, compiled in ``--mode`` (``default``: the kernels that CUDA graphs
replay, without the graphs; ``eager``: not compiled), runs a few steps, then records ``--steps`` steps with
torch.profiler and sums each kernel's GPU time. It prints, per twin, ms of kernel time a step by kind (``KINDS``)
and the heaviest kernels, and the KAN model's time by kind minus the MLP's. Kernel time leaves out idle gaps, so it is
what CUDA graphs leave of a step.
"""
import argparse
import collections

import torch

from vkan.bench import MODEL_CONFIGS, fresh_compiles, train_step, twins

# (kind, substrings of a kernel's lower-case name), first match wins; the KAN layer's own kernels are the ones named
# by vkan.ops.triton_kan ("kan_..."), matched at the start since Inductor names its kernels after the ops they fuse
KINDS = (
    ("optimizer", ("adam", "multi_tensor")),
    ("attention", ("sdpa", "flash", "fmha", "dot_do_o", "convert_dq")),  # cuDNN's attention and its helpers
    ("conv", ("conv", "nchwtonhwc")),  # the patch embedding (cuDNN, or cuBLAS-like implicit GEMMs)
    ("matmul", ("gemm", "nvjet", "cutlass", "xmma", "sm90_", "cublas", "splitk")),
    ("inductor", ("triton_",)),
)
KIND_NAMES = ("kan",) + tuple(k for k, _ in KINDS) + ("other",)
WARMUP_STEPS = 3  # compiles, then settles the allocator before the profiled steps


def kind(name: str) -> str:
    """The kind of a CUDA kernel by its name: "kan", one of ``KINDS``, or "other" (eager elementwise ops, copies)."""
    low = name.lower()
    if low.startswith("kan_"):
        return "kan"
    return next((k for k, keys in KINDS if any(s in low for s in keys)), "other")


def by_kind(kernels) -> dict:
    """{kind: ms} of {kernel name: ms}, every kind of ``KIND_NAMES`` present."""
    out = dict.fromkeys(KIND_NAMES, 0.0)
    for name, ms in kernels.items():
        out[kind(name)] += ms
    return out


def kernel_ms(step, steps: int) -> collections.Counter:
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


def profile_twins(config: str, paths, mode: str, steps: int, top: int) -> None:
    """Prints each twin's kernel time a step by kind and its ``top`` kernels, then each KAN model's minus the MLP's."""
    _, _, img, batch, chans = MODEL_CONFIGS[config]
    compiled = {"eager": False, "default": True}.get(mode, mode)  # vkan.bench.train_step's argument
    kinds = {}
    for label, model in twins(config, paths):
        step, _ = train_step(model.cuda().train(), img, batch, chans, compiled)
        for _ in range(WARMUP_STEPS):
            step()
        kernels = kernel_ms(step, steps)
        kinds[label] = by_kind(kernels)
        print(f"## {config} {label} ({mode}): {sum(kernels.values()):.3f} ms of kernels a step, "
              f"{len(kernels)} distinct kernels", flush=True)
        print("   by kind: " + ", ".join(f"{k} {ms:.3f}" for k, ms in kinds[label].items()))
        for name, ms in kernels.most_common(top):
            print(f"   {ms:7.3f} ms  {kind(name):9s} {name[:110]}")
        del step, model
        torch.cuda.empty_cache()
    mlp = kinds.pop("mlp")
    for label, k in kinds.items():
        diff = {name: k[name] - mlp[name] for name in k}
        print(f"## {config} {label} minus mlp: total {sum(diff.values()):+.3f} ms; "
              + ", ".join(f"{name} {ms:+.3f}" for name, ms in diff.items()), flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default="tiny32,small224")
    parser.add_argument("--paths", default="auto-keep", help="comma list of KAN kernel paths (kan_op.PATHS)")
    parser.add_argument("--mode", default="default", help="a torch.compile mode, or eager")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--top", type=int, default=12, help="heaviest kernels listed per twin")
    args = parser.parse_args(argv)
    paths = args.paths.split(",")
    for config in args.models.split(","):
        if args.mode != "eager":
            fresh_compiles(1 + len(paths))
        profile_twins(config, paths, args.mode, args.steps, args.top)


if __name__ == "__main__":
    main()
