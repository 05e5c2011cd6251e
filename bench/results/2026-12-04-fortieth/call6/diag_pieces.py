"""Forward and weight grad at N_OUT outputs with one output tile as BN + N2 (N2 = 0: the shipped launch), against the
bases materialised in PyTorch (bf16 weights, fp32 sums). Usage: python diag_pieces.py N_OUT BN N2"""
import sys
import torch
from vkan import KANLinear
from vkan.ops import kan_op

n_out, bn, n2 = map(int, sys.argv[1:])
torch.manual_seed(0)
m, n_in = 4099, 48
layer = KANLinear(n_in, n_out).cuda()
sw, sc, bw = layer.spline_weight.detach(), layer.spline_scaler.detach(), layer.base_weight.detach()
w, _, cp = kan_op._pack(sw, sc, bw, torch.bfloat16)
kt, q = w.shape[0], layer.grid.shape[1]
x = torch.randn(m, n_in, device="cuda")
gy = torch.randn(m, n_out, device="cuda", dtype=torch.bfloat16)
a = torch.cat([layer.b_splines(x).flatten(1), torch.nn.functional.silu(x)], 1).bfloat16().float()  # (M, KT)
y_ref, dw_ref = a @ w.float(), a.t() @ gy.float()
fwd = kan_op._fwd_geometry(m, n_in, n_out, q, cp, 3, True, 1, True, torch.bfloat16, "tf32")
dw, n_split = kan_op._dw_geometry(m, n_in, n_out, kt, q, cp, 3, True, 1, True, torch.bfloat16, "tf32")
if n2:
    fwd = kan_op._FWD.rebind(fwd, grid=(fwd.grid[0], 1), BN=bn, N2=n2)
    dw = kan_op._DW.rebind(dw, grid=(dw.grid[0], 1, n_split), BN=bn, N2=n2)
y = torch.full((m, n_out), float("nan"), device="cuda", dtype=torch.bfloat16)
kan_op._FWD(fwd, x_ptr=x, grid_ptr=layer.grid, w_ptr=w, y_ptr=y)
part = torch.full((n_split, kt, n_out), float("nan"), device="cuda")
kan_op._DW(dw, gy_ptr=gy, x_ptr=x, grid_ptr=layer.grid, part_ptr=part)
torch.cuda.synchronize()
args = kan_op._FWD.arguments(fwd)
err = lambda got, ref: ((got.float() - ref).norm() / ref.norm()).item()
print(f"{m}x{n_in}->{n_out} BN {args['BN']} N2 {args['N2']} BM {args['BM']}: fwd rel err {err(y, y_ref):.2e}, "
      f"dw rel err {err(part.sum(0), dw_ref):.2e}, NaN in y {y.isnan().sum().item()}, in dw {part.isnan().sum().item()}")
