"""Experiment: the fused forward also writing A = [B(X), act(X)] (kan_fwd_kernel's KEEP) so that the weight grad is
cuBLAS's product on it (``_dw_product``) instead of the weight-grad kernel, at ViT-tiny's fc1 (33280x192->80, bf16,
fp32 x): each kernel pair and the layer's whole step (forward, input grad, weight grad, unpack) as CUDA graphs, 3
interleaved rounds, gradients compared; then (``model``) the compiled tiny/4 training step under CUDA graphs, the MLP
twin against KAN on "auto-keep" with fc1 keeping A (the new rule) and without it (``FUSED_KEEPS`` off while that
model compiles), and on "gemm-keep". Usage: python exp_keep.py layers | model ROUNDS"""
import statistics, sys, time
import torch
from torch import nn
from vkan import KANLinear, bench
from vkan.bench import graph_calls_ms
from vkan.ops import kan_op

if sys.argv[1] == "layers":
    m, n_in, n_out = 33280, 192, 80
    layer = KANLinear(n_in, n_out).cuda()
    sw, sc, bw = (p.detach() for p in (layer.spline_weight, layer.spline_scaler, layer.base_weight))
    w, wt, cp = kan_op._pack(sw, sc, bw, torch.bfloat16)
    kt, grid = wt.shape[1], layer.grid
    x = torch.randn(m, n_in, device="cuda")
    gy = torch.randn(m, n_out, device="cuda", dtype=torch.bfloat16)
    y0, _ = kan_op._launch_fwd(x, grid, w, cp, 3, True, 1, True)
    y1, a = kan_op._launch_fwd(x, grid, w, cp, 3, True, 1, True, keep=True)
    print(f"Y equal: {torch.equal(y0, y1)}; A equal to the bases kernel's: "
          f"{torch.equal(a, kan_op._launch_bases(x, grid, kt, cp, 3, True, 1, True, torch.bfloat16))}; "
          f"weight-grad blocks {kan_op._dw_row_blocks(m, kt, n_out)}", flush=True)
    g_kernel = kan_op._unpack(kan_op._launch_dw(gy, x, grid, kt, cp, 3, True, 1, True), sw, sc, bw, cp)
    g_mm = kan_op._unpack(kan_op._dw_product(a, gy), sw, sc, bw, cp)
    print("grads max rel (product vs kernel): " + " ".join(
        f"{((p - q).abs().max() / q.abs().max()).item():.1e}" for p, q in zip(g_mm, g_kernel)), flush=True)

    def dx():
        return kan_op._launch_dx_rows(gy, x, grid, wt, cp, 3, True, 1, True)

    pairs = {
        "forward": (lambda: kan_op._launch_fwd(x, grid, w, cp, 3, True, 1, True),
                    lambda: kan_op._launch_fwd(x, grid, w, cp, 3, True, 1, True, keep=True)),
        "weight grad + unpack": (lambda: kan_op._unpack(kan_op._launch_dw(gy, x, grid, kt, cp, 3, True, 1, True),
                                                        sw, sc, bw, cp),
                                 lambda: kan_op._unpack(kan_op._dw_product(a, gy), sw, sc, bw, cp)),
        "layer step": (lambda: (kan_op._launch_fwd(x, grid, w, cp, 3, True, 1, True), dx(),
                                kan_op._unpack(kan_op._launch_dw(gy, x, grid, kt, cp, 3, True, 1, True), sw, sc, bw,
                                               cp)),
                       lambda: (kan_op._unpack(kan_op._dw_product(kan_op._launch_fwd(
                           x, grid, w, cp, 3, True, 1, True, keep=True)[1], gy), sw, sc, bw, cp), dx())),
    }
    for name, (before, keep) in pairs.items():
        t = {"kernel (before)": [], "keeping A": []}
        for _ in range(3):
            t["kernel (before)"].append(graph_calls_ms(before))
            t["keeping A"].append(graph_calls_ms(keep))
        print(f"{name}: " + ", ".join(f"{k} {statistics.median(v):.4f} ms ({' '.join(f'{u:.4f}' for u in v)})"
                                      for k, v in t.items()), flush=True)
    sys.exit(0)
rounds = int(sys.argv[2])
kan_name, mlp_name, img, batch, chans = bench.MODEL_CONFIGS["tiny32"]
builds = [("mlp", mlp_name, "auto-keep", True, {"triton.cudagraphs": True}),
          ("kan auto-keep, fc1 without A (before)", kan_name, "auto-keep", False,
           {"triton.cudagraphs": True, "max_autotune_gemm": False}),
          ("kan auto-keep, fc1 keeping A (new)", kan_name, "auto-keep", True,
           {"triton.cudagraphs": True, "max_autotune_pointwise": False}),
          ("kan gemm-keep", kan_name, "gemm-keep", True, {"triton.cudagraphs": True, "max_autotune": False})]
bench.fresh_compiles(len(builds))
bench.warm_up_gpu()
steps = {}
for label, name, path, keeps, options in builds:
    kan_op.FUSED_KEEPS = keeps
    model = bench.bench_model(name, img, chans, kernel_path=path).cuda().train()
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
    print(f"{label}: warm-up {time.perf_counter() - t0:.1f} s, peak {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB",
          flush=True)
    steps[label] = step
kan_op.FUSED_KEEPS = True
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
