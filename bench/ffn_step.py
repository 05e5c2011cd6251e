"""The feed-forward sublayer alone, KAN against the MLP twin: what separates the twins' training steps.

    PYTHONPATH=. python bench/ffn_step.py [--models tiny32,small224,base224] [--paths fused,gemm-keep]

The twins differ only in their blocks' ``mlp`` sublayer, so the step's gap is about depth x the gap of one sublayer.
For each ``vkan.bench`` config this takes block 0's sublayer of each twin (the KAN one on each of ``--paths``),
feeds it (batch x tokens, dim) fp32 rows as the model's LayerNorm does under autocast, and times forward + backward
under bf16 autocast, eager, replayed as one CUDA graph (kernels only, host excluded). It prints each time, its time
over the MLP's (above 1: slower) and, for reading against ``vkan.bench``'s model rows, depth x the difference in ms.
Eager mode resolves "auto" and "auto-keep" to the fused path. Not covered: what ``torch.compile`` fuses around the
sublayer (the MLP's GELU and input cast; nothing across the KAN op).
"""
import argparse

import torch

from vkan.bench import MODEL_CONFIGS, graph_time_ms, twins


def sublayer_step(mlp, tokens: int, dim: int):
    """Forward + backward of ``mlp`` on (tokens, dim) fp32 rows under bf16 autocast."""
    x = torch.randn(tokens, dim, device="cuda", requires_grad=True)  # (batch x tokens a image, width)
    g = torch.randn(tokens, dim, device="cuda", dtype=torch.bfloat16)

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            y = mlp(x)
        y.backward(g)
    return step


def sublayers(config: str, paths):
    """(label, block 0's feed-forward sublayer, tokens a batch, width, depth) of each of ``vkan.bench.twins`` (the
    MLP twin, then the KAN model on each kernel path of ``paths``) at the config's image side and batch, on the CPU."""
    batch = MODEL_CONFIGS[config][3]
    for label, model in twins(config, paths):
        tokens = batch * (model.patch_embed.num_patches + model.num_prefix_tokens)
        yield label, model.blocks[0].mlp, tokens, model.embed_dim, len(model.blocks)


def main():
    """Per config: each sublayer's time, and its time over the MLP's (above 1: slower)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default="tiny32,small224,base224")
    parser.add_argument("--paths", default="fused,gemm-keep", help="comma list of KAN kernel paths (kan_op.PATHS)")
    args = parser.parse_args()
    for config in args.models.split(","):
        times = {}
        for label, mlp, tokens, dim, depth in sublayers(config, args.paths.split(",")):
            ms, err = graph_time_ms(sublayer_step(mlp.cuda().train(), tokens, dim))
            if err:
                raise RuntimeError(f"{config} {label}: {err}")
            times[label] = (ms, depth)
        mlp_ms = times["mlp"][0]
        for label, (ms, depth) in times.items():
            print(f"{config} {label:14s} graph {ms:.3f} ms, time / MLP's {ms / mlp_ms:.2f}, "
                  f"depth x difference {depth * (ms - mlp_ms):+.2f} ms", flush=True)


if __name__ == "__main__":
    main()
