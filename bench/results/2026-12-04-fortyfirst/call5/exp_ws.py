"""Experiment: the forward's spline part at ViT-tiny's fc1 (33280x192->80, bf16) with X and W read through tensor
descriptors (TMA), with and without Triton's automatic warp specialization of the main loop, against the shipped
forward kernel (spline part only), as CUDA graphs. Usage: python exp_ws.py"""
import sys, torch, triton, triton.language as tl
from vkan import KANLinear
from vkan.bench import graph_calls_ms
from vkan.ops import kan_op, triton_kan as tk
_tile, _bases, _act = tk._tile, tk._bases, tk._act
triton.set_allocator(lambda size, align, stream: torch.empty(size, dtype=torch.int8, device="cuda"))


@triton.jit
def fwd_ws(x_ptr, grid_ptr, w_ptr, y_ptr, M, I, O, stride_xm, stride_wk, stride_ym,
           Q: tl.constexpr, CP: tl.constexpr, K: tl.constexpr, UNIFORM: tl.constexpr, ACT: tl.constexpr,
           BM: tl.constexpr, BN: tl.constexpr, BI: tl.constexpr, WS: tl.constexpr, NS: tl.constexpr):
    pid_m = tl.program_id(0)
    offs_m = pid_m * BM + tl.arange(0, BM)
    offs_n = tl.arange(0, BN)
    offs_k = tl.arange(0, BI * CP)
    acc = tl.zeros((BM, BN), dtype=tl.float32)
    xd = tl.make_tensor_descriptor(x_ptr, shape=[M, I], strides=[stride_xm, 1], block_shape=[BM, BI])
    wd = tl.make_tensor_descriptor(w_ptr, shape=[I * CP, O], strides=[stride_wk, 1], block_shape=[BI * CP, BN])
    for i0 in tl.range(0, I, BI, warp_specialize=WS, num_stages=NS):
        offs_i = i0 + tl.arange(0, BI)
        x = xd.load([pid_m * BM, i0])
        b, _ = _bases(x, grid_ptr, offs_i, I, Q, CP, K, UNIFORM)
        a = tl.reshape(b, (BM, BI * CP)).to(w_ptr.dtype.element_ty)
        acc = tl.dot(a, wd.load([i0 * CP, 0]), acc)
    tl.store(y_ptr + offs_m[:, None] * stride_ym + offs_n[None, :], acc.to(y_ptr.dtype.element_ty),
             mask=(offs_m[:, None] < M) & (offs_n[None, :] < O))


m, n_in, n_out = 33280, 192, 80
layer = KANLinear(n_in, n_out).cuda()
sw = (layer.spline_weight * layer.spline_scaler[..., None]).detach()
w = sw.permute(1, 2, 0).reshape(n_in * 8, n_out).to(torch.bfloat16).contiguous()  # (I*CP, O), CP = 8
x = torch.randn(m, n_in, device="cuda")
grid = layer.grid
want = kan_op._launch_fwd(x, grid, w, 8, 3, True, 1, False)
print(f"shipped kan_fwd_kernel, spline part: {graph_calls_ms(lambda: kan_op._launch_fwd(x, grid, w, 8, 3, True, 1, False)):.4f} ms")
bn = 128
for bm, bi, warps, stages in ((64, 16, 4, 3), (128, 16, 4, 3), (128, 8, 4, 3), (64, 16, 4, 2), (128, 16, 8, 3), (64, 8, 4, 4)):
    for ws in (False, True):
        y = torch.empty(m, n_out, device="cuda", dtype=torch.bfloat16)
        def run():
            fwd_ws[(triton.cdiv(m, bm),)](x, grid, w, y, m, n_in, n_out, x.stride(0), w.stride(0), y.stride(0),
                                            Q=grid.shape[1], CP=8, K=3, UNIFORM=True, ACT=1, BM=bm, BN=bn, BI=bi, WS=ws,
                                            NS=stages, num_warps=warps)
        try:
            run(); torch.cuda.synchronize()
            err = ((y.float() - want.float()).abs().max() / want.float().abs().max()).item()
            print(f"BM {bm} BI {bi} warps {warps} stages {stages} ws {ws}: {graph_calls_ms(run):.4f} ms (max rel {err:.1e})", flush=True)
        except Exception as e:
            print(f"BM {bm} BI {bi} warps {warps} stages {stages} ws {ws}: {type(e).__name__}: {str(e)[:200]}", flush=True)
