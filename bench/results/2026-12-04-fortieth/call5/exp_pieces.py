"""Experiment (not shipped): the compiled (CUDA graphs) training step of a MODEL_CONFIGS twin pair, the KAN model with
the weight grad in two output pieces (as shipped) and with the earlier whole 128-column tile in 32 splits
(``_dw_geometry`` patched while that model compiles), side by side with the MLP twin in interleaved rounds, one
process. Each KAN model compiles with its own (equivalent) inductor options, so that dynamo traces it afresh.
Usage: python exp_pieces.py CONFIG ROUNDS"""
import statistics, sys, time
import torch
from torch import nn
from vkan import bench
from vkan.ops import kan_op

GEOMETRY = kan_op._dw_geometry
calls = {"pieces": 0, "whole": 0}


def dw_geometry(*args):
    launch, split = GEOMETRY(*args)
    if kan_op._DW.arguments(launch)["N2"] and not PIECES:  # the rule before this session: one 128-column tile, 32 splits
        n_out = args[2]
        launch, split = kan_op._DW.rebind(launch, grid=(launch.grid[0], 1, 32), BN=128, N2=0, SPLIT=32), 32
        assert n_out <= 128
        calls["whole"] += 1
    elif kan_op._DW.arguments(launch)["N2"]:
        calls["pieces"] += 1
    return launch, split


kan_op._dw_geometry = dw_geometry
config, rounds = sys.argv[1], int(sys.argv[2])
kan_name, mlp_name, img, batch, chans = bench.MODEL_CONFIGS[config]
builds = [("mlp", mlp_name, True, {"triton.cudagraphs": True}),
          ("kan whole tile (before)", kan_name, False, {"triton.cudagraphs": True, "max_autotune_gemm": False}),
          ("kan two pieces (shipped)", kan_name, True, {"triton.cudagraphs": True, "max_autotune_pointwise": False})]
bench.fresh_compiles(len(builds))
bench.warm_up_gpu()
steps = {}
for label, name, PIECES, options in builds:
    calls.update(pieces=0, whole=0)
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
    print(f"{label}: warm-up {time.perf_counter() - t0:.1f} s, weight grads traced in pieces {calls['pieces']}, "
          f"as a whole tile {calls['whole']}", flush=True)
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
