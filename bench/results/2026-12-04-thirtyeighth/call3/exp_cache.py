"""Experiment (not shipped): cache hints on the GEMM path's row kernels. Times, as CUDA graphs of 20 calls, the shipped
kan_bases_kernel / kan_dx_bases_kernel against copies whose big loads/stores carry eviction or cache hints."""
import importlib.util, pathlib, sys, torch
from vkan import KANLinear
from vkan.bench import graph_calls_ms
from vkan.ops import kan_op
from vkan.ops.launch import Launcher

src = pathlib.Path("vkan/ops/triton_kan.py").read_text()
DA_LOAD = "da = tl.load(row + cols[None, :], mask=mask_m & (cols[None, :] < I * CP), other=0.0)"
A_STORE = "mask=mask_m & (cols[None, :] < I * CP))\n    if HAS_BASE:\n        tl.store(row + I * CP"
assert DA_LOAD in src and A_STORE in src
variants = {
    "dA evict_first": src.replace(DA_LOAD, DA_LOAD[:-1] + ', eviction_policy="evict_first")'),
    "dA .cg": src.replace(DA_LOAD, DA_LOAD[:-1] + ', cache_modifier=".cg")'),
    "A store .cs": src.replace(A_STORE, A_STORE.replace("I * CP))", 'I * CP), cache_modifier=".cs")', 1)),
    "A store evict_first": src.replace(A_STORE, A_STORE.replace("I * CP))", 'I * CP), eviction_policy="evict_first")', 1)),
}
mods = {}
for i, (name, text) in enumerate(variants.items()):
    p = pathlib.Path(f"/tmp/exp_tk_{i}.py"); p.write_text(text)
    spec = importlib.util.spec_from_file_location(f"exp_tk_{i}", p); m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m); mods[name] = m

for m_rows, n_in in [(25216, 384), (25216, 160), (33280, 80), (12608, 768), (33280, 192)]:
    layer = KANLinear(n_in, 64).cuda()
    grid, q, cp = layer.grid, layer.grid.shape[1], 8
    kt = n_in * (cp + 1)
    x = torch.randn(m_rows, n_in, device="cuda")
    da = torch.randn(m_rows, kt, device="cuda", dtype=torch.bfloat16)
    lb = kan_op._bases_geometry(m_rows, n_in, kt, q, cp, 3, True, 1, True)
    ld = kan_op._dx_bases_geometry(m_rows, n_in, kt, q, cp, 3, True, 1, True)
    a_ref = torch.empty(m_rows, kt, device="cuda", dtype=torch.bfloat16); dx_ref = torch.empty_like(x)
    kan_op._BASES(lb, x_ptr=x, grid_ptr=grid, a_ptr=a_ref); kan_op._DX_BASES(ld, da_ptr=da, x_ptr=x, grid_ptr=grid, dx_ptr=dx_ref)
    a = torch.empty_like(a_ref); dx = torch.empty_like(x)
    rows = [("shipped bases", lambda: kan_op._BASES(lb, x_ptr=x, grid_ptr=grid, a_ptr=a)),
            ("shipped dX", lambda: kan_op._DX_BASES(ld, da_ptr=da, x_ptr=x, grid_ptr=grid, dx_ptr=dx))]
    for name, m in mods.items():
        if name.startswith("dA"):
            L = Launcher(m.kan_dx_bases_kernel, ("da_ptr", "x_ptr", "grid_ptr", "dx_ptr"))
            rows.append((name, lambda L=L: L(ld, da_ptr=da, x_ptr=x, grid_ptr=grid, dx_ptr=dx)))
        else:
            L = Launcher(m.kan_bases_kernel, ("x_ptr", "grid_ptr", "a_ptr"))
            rows.append((name, lambda L=L: L(lb, x_ptr=x, grid_ptr=grid, a_ptr=a)))
    print(f"## {m_rows}x{n_in}")
    for rnd in range(3):  # interleaved rounds
        out = []
        for name, fn in rows:
            fn(); torch.cuda.synchronize()
            same = torch.equal(a, a_ref) if "bases" in name or name.startswith("A") else torch.equal(dx, dx_ref)
            out.append(f"{name} {graph_calls_ms(fn, 20):.4f}{'' if same else ' DIFFERS'}")
        print(f"round {rnd}: " + " | ".join(out))
    sys.stdout.flush()
