"""Experiment: ViT-tiny fc1's three fused kernels (33280x192->80, bf16, x fp32 as the compiled model feeds it) at the
shipped tiles, launched with a register cap (Triton's ``maxnreg``) and 2 or the shipped pipeline stages, as CUDA
graphs; registers, spills and shared memory per program from the compiled kernel, outputs checked against the shipped
launch. Usage: python exp_maxnreg.py"""
import torch
from vkan import KANLinear
from vkan.bench import graph_calls_ms
from vkan.ops import kan_op

m, n_in, n_out = 33280, 192, 80
layer = KANLinear(n_in, n_out).cuda()
sw, sc, bw = (p.detach() for p in (layer.spline_weight, layer.spline_scaler, layer.base_weight))
w, wt, cp = kan_op._pack(sw, sc, bw, torch.bfloat16)
kt, grid, q = w.shape[0], layer.grid, layer.grid.shape[1]
x = torch.randn(m, n_in, device="cuda")
gy = torch.randn(m, n_out, device="cuda", dtype=torch.bfloat16)
prec = kan_op._precision(torch.bfloat16)
y = torch.empty(m, n_out, device="cuda", dtype=torch.bfloat16)
dx = torch.empty_like(x)
fwd = kan_op._fwd_geometry(m, n_in, n_out, q, cp, 3, True, 1, True, torch.bfloat16, prec)
dw, split = kan_op._dw_geometry(m, n_in, n_out, kt, q, cp, 3, True, 1, True, torch.bfloat16, prec)
part = torch.empty(split, kt, n_out, device="cuda")
rows = kan_op._dx_rows_geometry(m, n_in, n_out, kt, q, cp, 3, True, 1, True, torch.bfloat16, prec)
cases = [("forward", kan_op._FWD, fwd, dict(x_ptr=x, grid_ptr=grid, w_ptr=w, y_ptr=y), y),
         ("weight grad", kan_op._DW, dw, dict(gy_ptr=gy, x_ptr=x, grid_ptr=grid, part_ptr=part), part),
         ("input grad (held columns)", kan_op._DX_ROWS, rows, dict(gy_ptr=gy, x_ptr=x, grid_ptr=grid, wt_ptr=wt,
                                                                    dx_ptr=dx), dx)]
for name, launcher, launch, tensors, out in cases:
    args = tuple(tensors[n] for n in launcher.tensor_names)
    grid_, scalars, warps, stages = launch
    if name == "weight grad":
        out.zero_()
    launcher(launch, **tensors)
    want = out.clone()
    print(f"## {name}: grid {grid_}, {warps} warps, {stages} stages (shipped)", flush=True)
    for st in sorted({stages, 2}):
        for cap in (None, 232, 200, 168, 128):
            opts = dict(num_warps=warps, num_stages=st)
            if cap:
                opts["maxnreg"] = cap
            try:
                def run():
                    return launcher.kernel[grid_](*args, *scalars, **opts)
                if name == "weight grad":
                    out.zero_()
                k = run()
                torch.cuda.synchronize()
                err = ((out.float() - want.float()).abs().max() / want.float().abs().max()).item()
                ms = graph_calls_ms(run)
                print(f"stages {st} maxnreg {cap}: {ms:.4f} ms, regs {k.n_regs}, spills {k.n_spills}, "
                      f"shared {k.metadata.shared} B (max rel {err:.1e})", flush=True)
            except Exception as e:
                print(f"stages {st} maxnreg {cap}: {type(e).__name__}: {str(e)[:160]}", flush=True)
