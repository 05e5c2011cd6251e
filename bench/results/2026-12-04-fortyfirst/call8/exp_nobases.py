"""Experiment: how much of ViT-tiny fc1's three fused kernels (33280x192->80, bf16, fp32 x) is the bases'
arithmetic: each kernel at its shipped launch against a copy of it whose bases and derivatives are replaced by one
add per element (x + c; same shapes and loads, wrong values), as CUDA graphs, 3 interleaved rounds.
Usage: python exp_nobases.py"""
import importlib.util, inspect, os, sys, torch
from vkan import KANLinear
from vkan.bench import graph_calls_ms
from vkan.ops import kan_op, triton_kan as tk
from vkan.ops.launch import Launcher

src = inspect.getsource(tk)
head, kernels = src.split("@triton.jit\ndef kan_pack_kernel", 1)
kernels = "@triton.jit\ndef kan_pack_kernel" + kernels
n = kernels.count("= _bases(x, grid_ptr")
kernels = kernels.replace("= _bases(x, grid_ptr", "= _fake_bases(x, grid_ptr")
fake = '''

@triton.jit
def _fake_bases(x, grid_ptr, offs_i, I, Q: tl.constexpr, CP: tl.constexpr, K: tl.constexpr, UNIFORM: tl.constexpr):
    v = x[:, :, None] + tl.arange(0, CP).to(tl.float32)[None, None, :]
    return v, v


'''
path = "/tmp/tk_fake.py"
open(path, "w").write(head + fake + kernels)
spec = importlib.util.spec_from_file_location("tk_fake", path)
fk = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fk)
print(f"bases calls replaced in the kernels: {n}")

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
dw, split = kan_op._dw_geometry(m, n_in, n_out, kt, q, cp, 3, True, 1, True, torch.bfloat16, prec)
part = torch.empty(split, kt, n_out, device="cuda")
cases = [("forward", kan_op._FWD, kan_op._fwd_geometry(m, n_in, n_out, q, cp, 3, True, 1, True, torch.bfloat16, prec),
          dict(x_ptr=x, grid_ptr=grid, w_ptr=w, y_ptr=y)),
         ("weight grad", kan_op._DW, dw, dict(gy_ptr=gy, x_ptr=x, grid_ptr=grid, part_ptr=part)),
         ("input grad (held columns)", kan_op._DX_ROWS,
          kan_op._dx_rows_geometry(m, n_in, n_out, kt, q, cp, 3, True, 1, True, torch.bfloat16, prec),
          dict(gy_ptr=gy, x_ptr=x, grid_ptr=grid, wt_ptr=wt, dx_ptr=dx))]
for name, launcher, launch, tensors in cases:
    faked = Launcher(getattr(fk, launcher.kernel.__name__), launcher.tensor_names)
    times = {"shipped": [], "bases replaced by one add": []}
    for _ in range(3):
        for label, ln in (("shipped", launcher), ("bases replaced by one add", faked)):
            times[label].append(graph_calls_ms(lambda: ln(launch, **tensors)))
    print(f"{name}: " + ", ".join(f"{k} {sorted(v)[1]:.4f} ms (rounds {' '.join(f'{t:.4f}' for t in v)})"
                                  for k, v in times.items()), flush=True)
