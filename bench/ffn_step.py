"""The feed-forward sublayer alone, KAN against the MLP twin: what separates the twins' training steps.

    PYTHONPATH=. python bench/ffn_step.py [--models tiny32,small224,base224] [--paths auto-keep,fused,gemm]

The twins differ only in their blocks' ``mlp`` sublayer, so the step's gap is about depth x the gap of one
sublayer. For each ``vkan.bench`` config this takes block 0's sublayer of each twin (the KAN one on each of
``--paths``), feeds it (batch x tokens, dim) as the model does, and times forward + backward under bf16
autocast as one CUDA graph (kernels only, host excluded) and compiled as ``torch.compile`` would in
"reduce-overhead" mode; it prints each time, the KAN/MLP ratio and, for reading against ``vkan.bench``'s model
rows, depth x the difference in ms.
"""
import argparse

import timm
import torch

import vkan  # noqa: F401  (registers the models)
from vkan.bench import MODEL_CONFIGS, graph_time_ms, triton_time_ms
from vkan.kan_tools import kan_layers


def sublayer_step(mlp, tokens: int, dim: int, compile_mode=None):
    x = torch.randn(tokens, dim, device="cuda", requires_grad=True)
    g = torch.randn(tokens, dim, device="cuda", dtype=torch.bfloat16)
    run = torch.compile(mlp, mode=compile_mode) if compile_mode else mlp

    def step():
        if compile_mode:
            torch.compiler.cudagraph_mark_step_begin()  # a new step: the last one's graph outputs may be overwritten
        with torch.autocast("cuda", dtype=torch.bfloat16):
            y = run(x)
        y.backward(g)
    return step


def sublayers(config: str, paths):
    """(label, block 0's feed-forward sublayer, tokens a batch, width, depth) for the MLP twin, then the KAN model on
    each kernel path of ``paths``, at a ``vkan.bench`` config's image side and batch (on the CPU)."""
    kan_name, mlp_name, img, batch, chans = MODEL_CONFIGS[config]
    for label, name, path in [("mlp", mlp_name, None)] + [(f"kan {p}", kan_name, p) for p in paths]:
        model = timm.create_model(name, num_classes=10, img_size=img, in_chans=chans)
        mlp = model.blocks[0].mlp
        for _, layer in kan_layers(mlp):
            layer.kernel_path = path
        tokens = batch * (model.patch_embed.num_patches + model.num_prefix_tokens)
        yield label, mlp, tokens, model.embed_dim, len(model.blocks)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default="tiny32,small224,base224")
    parser.add_argument("--paths", default="auto-keep,fused")
    parser.add_argument("--no-compile", action="store_true")
    args = parser.parse_args()
    for config in args.models.split(","):
        times = {}
        for label, mlp, tokens, dim, depth in sublayers(config, args.paths.split(",")):
            mlp = mlp.cuda().train()
            ms, err = graph_time_ms(sublayer_step(mlp, tokens, dim))
            row = {"graph": ms if err is None else float("nan")}
            if not args.no_compile:
                torch._dynamo.reset()
                step = sublayer_step(mlp, tokens, dim, "reduce-overhead")
                for _ in range(3):
                    step()
                row["compiled"] = triton_time_ms(step, rep_ms=200)
            times[label] = (row, depth)
        mlp_row = times["mlp"][0]
        for label, (row, depth) in times.items():
            cells = "  ".join(f"{k} {v:.3f} ms ({v / mlp_row[k]:.2f}x, depth x diff {depth * (v - mlp_row[k]):+.2f} ms)"
                              for k, v in row.items())
            print(f"{config} {label:14s} {cells}", flush=True)


if __name__ == "__main__":
    main()
