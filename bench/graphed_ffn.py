"""Eager training steps with each block's feed-forward sublayer replayed as CUDA graphs: how much of the KAN model's
eager gap to its MLP twin is the host's cost of launching the KAN layers' kernels.

    PYTHONPATH=. python bench/graphed_ffn.py [--models tiny32,small224] [--rounds 3]

For each ``vkan.bench`` config, four eager models in interleaved rounds (``vkan.bench.time_train_steps``, ratios over
the plain MLP twin): the MLP twin and the KAN model (eager "auto": the fused path) as they are, and each with its
blocks' ``mlp`` modules passed together through ``torch.cuda.make_graphed_callables`` (forward and backward captured
once on a sample of the step's shape, then replayed; the rest of the step stays eager). A measurement only: nothing
in vkan graphs its layers. The printed peak memory of a graphed row leaves out the graphs' own memory pool, taken
when they are captured, before the timing starts.
"""
import argparse
import copy

import torch

from vkan.bench import MODEL_CONFIGS, bench_model, time_train_steps


def graph_ffns(model: torch.nn.Module, batch: int) -> torch.nn.Module:
    """``model`` (CUDA, a timm ViT) with every block's ``mlp`` graphed, captured under bf16 autocast as the
    benchmark's step runs it (autocast's weight cache off, as graph capture requires)."""
    tokens = model.patch_embed.num_patches + model.num_prefix_tokens
    mlps = tuple(block.mlp for block in model.blocks)
    samples = tuple((torch.randn(batch, tokens, model.embed_dim, device="cuda", requires_grad=True),) for _ in mlps)
    with torch.autocast("cuda", dtype=torch.bfloat16, cache_enabled=False):
        graphed = torch.cuda.make_graphed_callables(mlps, samples)
    for block, mlp in zip(model.blocks, graphed):
        block.mlp = mlp
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="tiny32,small224", help=f"comma list of {sorted(MODEL_CONFIGS)}")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    for config in args.models.split(","):
        kan_name, mlp_name, img, batch, chans = MODEL_CONFIGS[config]
        models = {}
        for label, name in (("mlp", mlp_name), ("kan", kan_name)):
            model = bench_model(name, img, chans).cuda().train()
            models[label] = model
            models[f"{label} graphed ffn"] = graph_ffns(copy.deepcopy(model), batch)
        for row in time_train_steps(models, img, batch, chans, False, args.rounds, "mlp"):
            print(f"{config} {row['model']:16s} {row['img_per_s']:9.0f} img/s  x{row['throughput_vs_base']:.3f} "
                  f"({row['ratio_min']:.3f}-{row['ratio_max']:.3f}) vs the plain MLP twin  "
                  f"peak {row['peak_gib']:.2f} GiB", flush=True)


if __name__ == "__main__":
    main()
