"""Experiment: the compiled (CUDA graphs) training step of a MODEL_CONFIGS twin pair, the KAN model as shipped (its
layers read the fp32 LayerNorm output) and with each KAN layer's input cast to the autocast dtype first (as
F.linear does under autocast), side by side with the MLP twin in interleaved rounds, one process; then, eager, how
far each KAN variant's logits and gradients are from the fp32 reference path on one batch.
Usage: python exp_castx.py CONFIG ROUNDS"""
import statistics, sys, time
import torch
from torch import nn
from vkan import bench
from vkan.kan import KANLinear

FUSED = KANLinear._fused_layer


def fused_layer(self, x2):
    if getattr(self, "cast_x", False) and torch.is_autocast_enabled(x2.device.type):
        x2 = x2.to(torch.get_autocast_dtype(x2.device.type))
    return FUSED(self, x2)


KANLinear._fused_layer = fused_layer
config, rounds = sys.argv[1], int(sys.argv[2])
kan_name, mlp_name, img, batch, chans = bench.MODEL_CONFIGS[config]
builds = [("mlp", mlp_name, False, {"triton.cudagraphs": True}),
          ("kan fp32 x (shipped)", kan_name, False, {"triton.cudagraphs": True, "max_autotune_gemm": False}),
          ("kan x cast to bf16", kan_name, True, {"triton.cudagraphs": True, "max_autotune_pointwise": False})]
bench.fresh_compiles(len(builds))
bench.warm_up_gpu()
steps = {}
for label, name, cast_x, options in builds:
    model = bench.bench_model(name, img, chans, kernel_path="auto-keep").cuda().train()
    for m in model.modules():
        if isinstance(m, KANLinear):
            m.cast_x = cast_x
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
    print(f"{label}: warm-up {time.perf_counter() - t0:.1f} s", flush=True)
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

# numerics, eager, one batch of 64: each variant against the fp32 PyTorch reference path
model = bench.bench_model(kan_name, img, chans, kernel_path="auto-keep").cuda().train()
x = torch.randn(64, chans, img, img, device="cuda")
y = torch.randint(0, 10, (64,), device="cuda")


def grads(fused, cast_x, amp):
    for m in model.modules():
        if isinstance(m, KANLinear):
            m.cast_x, m.fused = cast_x, (None if fused else False)
    model.zero_grad(set_to_none=True)
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
        logits = model(x)
    nn.functional.cross_entropy(logits.float(), y).backward()
    return [logits.float()] + [p.grad.clone() for p in model.parameters()]


def rel(a, b):
    return ((a - b).norm() / b.norm()).item()


want = grads(False, False, False)
names = ["logits"] + [n for n, _ in model.named_parameters()]
for label, cast_x in (("fp32 x (shipped)", False), ("x cast to bf16", True)):
    got = grads(True, cast_x, True)
    errs = [rel(a, b) for a, b in zip(got, want)]
    kan = [e for n, e in zip(names, errs) if "mlp.fc" in n]
    print(f"numerics {label}, bf16 autocast vs fp32 reference: logits {errs[0]:.2e}, all grads median "
          f"{statistics.median(errs[1:]):.2e} max {max(errs[1:]):.2e}, KAN weight grads median {statistics.median(kan):.2e} "
          f"max {max(kan):.2e}, patch embedding grad {errs[names.index('patch_embed.proj.weight')]:.2e}", flush=True)
