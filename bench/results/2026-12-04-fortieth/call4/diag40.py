"""Which launch faults: the forward or the weight grad as a 32 + 16 output tile at 4099x48->40 (bf16, GPU tiles)."""
import sys
import torch
from vkan import KANLinear
from vkan.ops import kan_op

kind = sys.argv[1]
torch.manual_seed(0)
m, n_in, n_out = 4099, 48, 40
layer = KANLinear(n_in, n_out).cuda()
w, _, cp = kan_op._pack(layer.spline_weight.detach(), layer.spline_scaler.detach(), layer.base_weight.detach(),
                        torch.bfloat16)
kt, q = w.shape[0], layer.grid.shape[1]
x = torch.randn(m, n_in, device="cuda")
gy = torch.randn(m, n_out, device="cuda", dtype=torch.bfloat16)
if kind == "fwd":
    fwd = kan_op._fwd_geometry(m, n_in, n_out, q, cp, 3, True, 1, True, torch.bfloat16, "tf32")
    y = torch.empty(m, n_out, device="cuda", dtype=torch.bfloat16)
    kan_op._FWD(kan_op._FWD.rebind(fwd, grid=(fwd.grid[0], 1), BN=32, N2=16), x_ptr=x, grid_ptr=layer.grid, w_ptr=w,
                y_ptr=y)
    torch.cuda.synchronize()
    print("fwd 32+16 ran; rel diff", ((y.float() - kan_op._launch_fwd(x, layer.grid, w, cp, 3, True, 1, True).float()).norm() / y.float().norm()).item())
else:
    dw, n_split = kan_op._dw_geometry(m, n_in, n_out, kt, q, cp, 3, True, 1, True, torch.bfloat16, "tf32")
    part = torch.empty((n_split, kt, n_out), device="cuda")
    kan_op._DW(kan_op._DW.rebind(dw, grid=(dw.grid[0], 1, n_split), BN=32, N2=16), gy_ptr=gy, x_ptr=x,
               grid_ptr=layer.grid, part_ptr=part)
    torch.cuda.synchronize()
    print("dw 32+16 ran; rel diff", ((part - kan_op._launch_dw(gy, x, layer.grid, kt, cp, 3, True, 1, True)).norm() / part.norm()).item())
