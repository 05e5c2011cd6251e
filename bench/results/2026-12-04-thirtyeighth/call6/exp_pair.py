"""Experiment (not shipped): the GEMM path's row kernels with the product that follows or precedes them, as CUDA graphs
of 20 calls, 5 interleaved rounds: bases (A stored .cs, shipped, or plain) + Y = A W; dA = dY W^T + dX from dA (dA
loaded plainly, shipped, or evict-first)."""
import importlib.util, pathlib, statistics, torch
from vkan import KANLinear
from vkan.bench import graph_calls_ms
from vkan.ops import kan_op
from vkan.ops.launch import Launcher

src = pathlib.Path("vkan/ops/triton_kan.py").read_text()
DA_LOAD = "da = tl.load(row + cols[None, :], mask=mask_m & (cols[None, :] < I * CP), other=0.0)"
assert DA_LOAD in src and src.count(', cache_modifier=".cs")') == 2
texts = {"plain store": src.replace(', cache_modifier=".cs")', ")"),
         "dA evict_first": src.replace(DA_LOAD, DA_LOAD[:-1] + ', eviction_policy="evict_first")')}
mods = {}
for i, (name, text) in enumerate(texts.items()):
    p = pathlib.Path(f"/tmp/exp_pair_{i}.py"); p.write_text(text)
    spec = importlib.util.spec_from_file_location(f"exp_pair_{i}", p); m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m); mods[name] = m
plain_bases = Launcher(mods["plain store"].kan_bases_kernel, ("x_ptr", "grid_ptr", "a_ptr"))
evict_dx = Launcher(mods["dA evict_first"].kan_dx_bases_kernel, ("da_ptr", "x_ptr", "grid_ptr", "dx_ptr"))

for m_rows, n_in, n_out in [(33280, 80, 192), (25216, 384, 160), (25216, 160, 384), (12608, 768, 304), (12608, 304, 768)]:
    layer = KANLinear(n_in, n_out).cuda()
    grid, q, cp = layer.grid, layer.grid.shape[1], 8
    kt = n_in * (cp + 1)
    x = torch.randn(m_rows, n_in, device="cuda")
    wt = torch.randn(n_out, kt, device="cuda", dtype=torch.bfloat16) * 0.05
    gy = torch.randn(m_rows, n_out, device="cuda", dtype=torch.bfloat16)
    lb = kan_op._bases_geometry(m_rows, n_in, kt, q, cp, 3, True, 1, True)
    ld = kan_op._dx_bases_geometry(m_rows, n_in, kt, q, cp, 3, True, 1, True)
    a = torch.empty(m_rows, kt, device="cuda", dtype=torch.bfloat16); dx = torch.empty_like(x)

    def fwd(launcher):
        launcher(lb, x_ptr=x, grid_ptr=grid, a_ptr=a)
        return torch.mm(a, wt.t())

    def bwd(launcher):
        da = torch.mm(gy, wt)
        launcher(ld, da_ptr=da, x_ptr=x, grid_ptr=grid, dx_ptr=dx)

    rows = {"bases .cs + Y (shipped)": lambda: fwd(kan_op._BASES), "bases plain + Y": lambda: fwd(plain_bases),
            "dA + dX (shipped)": lambda: bwd(kan_op._DX_BASES), "dA + dX evict_first": lambda: bwd(evict_dx)}
    times = {k: [] for k in rows}
    for rnd in range(5):
        for name, fn in rows.items():
            times[name].append(graph_calls_ms(fn, 20))
    print(f"## {m_rows}x{n_in}->{n_out}")
    for name, t in times.items():
        print(f"{name}: median {statistics.median(t):.4f} ms, rounds " + " ".join(f"{v:.4f}" for v in t))
