"""Experiment: the weight grad in the transposed tile (kan_dw_kernel's TRANS, the new rule for 16-bit layers of 80-128
outputs in steps of 16) against the tiles it replaces (80, 96: one tile in two pieces; 112, 128: one 128-column tile
in 32 splits), weight grad + unpack as CUDA graphs, 3 interleaved rounds, gradients compared; then (``model``) the
compiled tiny/4 training step under CUDA graphs, KAN with the new and with the replaced weight-grad tiles (the rule
patched while that model compiles), side by side with the MLP twin.
Usage: python exp_trans.py layers | model ROUNDS"""
import statistics, sys, time
import torch
from torch import nn
from vkan import KANLinear, bench
from vkan.bench import graph_calls_ms
from vkan.ops import kan_op

GEOMETRY = kan_op._dw_geometry
OLD = False


def old_launch(launch, n_in, n_out):
    """The tiles before this change: two pieces at 80 and 96 (16 splits), one 128-column tile at 112 and 128 (32)."""
    bn, n2 = kan_op._output_pieces(n_out) if kan_op._exact_pieces(n_out) else (128, 0)
    split = 16 if n2 else 32
    nsb = -(-n_in // 16)
    return kan_op._DW.rebind(launch, grid=(nsb + -(-n_in // 64), 1, split), BN=bn, N2=n2, BI=16, NSB=nsb, SPLIT=split,
                             TRANS=False), split


def dw_geometry(m, n_in, n_out, kt, q, cp, k, uniform, act, has_base, dtype, precision):
    launch, split = GEOMETRY(m, n_in, n_out, kt, q, cp, k, uniform, act, has_base, dtype, precision)
    if OLD and kan_op._DW.arguments(launch)["TRANS"]:
        return old_launch(launch, n_in, n_out)
    return launch, split


kan_op._dw_geometry = dw_geometry

if sys.argv[1] == "layers":
    m, n_in = 33280, 192
    for n_out in (80, 96, 112, 128):
        layer = KANLinear(n_in, n_out).cuda()
        sw, sc, bw = (p.detach() for p in (layer.spline_weight, layer.spline_scaler, layer.base_weight))
        w, wt, cp = kan_op._pack(sw, sc, bw, torch.bfloat16)
        kt, grid = wt.shape[1], layer.grid
        x = torch.randn(m, n_in, device="cuda")
        gy = torch.randn(m, n_out, device="cuda", dtype=torch.bfloat16)
        new, s_new = GEOMETRY(m, n_in, n_out, kt, grid.shape[1], cp, 3, True, 1, True, torch.bfloat16, "tf32")
        old, s_old = old_launch(new, n_in, n_out)
        grads = {}
        fns = {}
        for label, launch, split in (("transposed (new)", new, s_new), ("replaced", old, s_old)):
            part = torch.empty(split, kt, n_out, device="cuda")

            def fn(launch=launch, part=part):
                kan_op._DW(launch, gy_ptr=gy, x_ptr=x, grid_ptr=grid, part_ptr=part)
                return kan_op._unpack(part, sw, sc, bw, cp)
            grads[label] = fn()
            fns[label] = fn
        errs = [((a - b).abs().max() / b.abs().max()).item() for a, b in zip(*grads.values())]
        times = {label: [] for label in fns}
        for _ in range(3):
            for label, fn in fns.items():
                times[label].append(graph_calls_ms(fn))
        print(f"33280x192->{n_out}, weight grad + unpack: " + ", ".join(
            f"{label} {statistics.median(t):.4f} ms ({' '.join(f'{v:.4f}' for v in t)})" for label, t in times.items())
            + f"; grads max rel {max(errs):.1e}", flush=True)
    sys.exit(0)

rounds = int(sys.argv[2])
kan_name, mlp_name, img, batch, chans = bench.MODEL_CONFIGS["tiny32"]
builds = [("mlp", mlp_name, False, {"triton.cudagraphs": True}),
          ("kan replaced weight-grad tiles", kan_name, True, {"triton.cudagraphs": True, "max_autotune_gemm": False}),
          ("kan transposed weight grad", kan_name, False, {"triton.cudagraphs": True, "max_autotune_pointwise": False})]
bench.fresh_compiles(len(builds))
bench.warm_up_gpu()
steps = {}
for label, name, old, options in builds:
    OLD = old
    model = bench.bench_model(name, img, chans, kernel_path="auto-keep").cuda().train()
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
    steps[label] = step
OLD = False
ms = {label: [] for label in steps}
for _ in range(rounds):
    for label, step in steps.items():
        ms[label].append(bench.triton_time_ms(step, rep_ms=300))
base = ms["mlp"]
for label, t in ms.items():
    ratios = [b / v for b, v in zip(base, t)]
    print(f"{label}: step ms {statistics.median(t):.3f} (rounds {' '.join(f'{v:.3f}' for v in t)}), "
          f"img/s {batch / statistics.median(t) * 1e3:,.0f}, vs mlp {statistics.median(ratios):.4f} "
          f"({min(ratios):.4f}-{max(ratios):.4f})", flush=True)
