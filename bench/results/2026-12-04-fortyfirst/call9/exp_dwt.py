"""Experiment: the weight grad's spline part at ViT-tiny's fc1 (33280x192->80, bf16, fp32 x) as dW^T = dY^T B(X):
the bases are the matmul's second operand in their own (rows, (input, coefficient)) orientation, not transposed, and
dY's tile is transposed as it is loaded; against the shipped kernel (spline rows only), as CUDA graphs, 3 interleaved
rounds; partial sums checked against the shipped kernel's. Usage: python exp_dwt.py"""
import itertools, torch, triton, triton.language as tl
from vkan import KANLinear
from vkan.bench import graph_calls_ms
from vkan.ops import kan_op
from vkan.ops.triton_kan import _bases


@triton.jit
def dwt_kernel(gy_ptr, x_ptr, grid_ptr, part_ptr, M, I, O, stride_gm, stride_xm, stride_pk, stride_ps,
               Q: tl.constexpr, CP: tl.constexpr, K: tl.constexpr, BM: tl.constexpr, BN: tl.constexpr,
               BI: tl.constexpr, SPLIT: tl.constexpr):
    pid_i = tl.program_id(0)
    pid_s = tl.program_id(1)
    offs_i = pid_i * BI + tl.arange(0, BI)
    offs_n = tl.arange(0, BN)
    acc = tl.zeros((BN, BI * CP), dtype=tl.float32)
    for m0 in range(pid_s * BM, M, SPLIT * BM):
        offs_m = m0 + tl.arange(0, BM)
        x = tl.load(x_ptr + offs_m[:, None] * stride_xm + offs_i[None, :],
                    mask=(offs_m[:, None] < M) & (offs_i[None, :] < I), other=0.0).to(tl.float32)
        gyt = tl.load(gy_ptr + offs_m[None, :] * stride_gm + offs_n[:, None],
                      mask=(offs_m[None, :] < M) & (offs_n[:, None] < O), other=0.0)  # (BN, BM)
        b, _ = _bases(x, grid_ptr, offs_i, I, Q, CP, K, True)
        acc = tl.dot(gyt, tl.reshape(b, (BM, BI * CP)).to(gyt.dtype), acc)
    rows = pid_i * BI * CP + tl.arange(0, BI * CP)
    out = part_ptr + pid_s * stride_ps + rows[None, :] * stride_pk + offs_n[:, None]
    tl.store(out, acc, mask=(rows[None, :] < I * CP) & (offs_n[:, None] < O))


m, n_in, n_out = 33280, 192, 80
layer = KANLinear(n_in, n_out).cuda()
grid = layer.grid
x = torch.randn(m, n_in, device="cuda")
gy = torch.randn(m, n_out, device="cuda", dtype=torch.bfloat16)
cp, kt = 8, n_in * 8
want = kan_op._launch_dw(gy, x, grid, kt, cp, 3, True, 1, False)  # spline rows only
print(f"shipped weight grad, spline rows: {want.shape[0]} partials", flush=True)
shipped = lambda: kan_op._launch_dw(gy, x, grid, kt, cp, 3, True, 1, False)
ws = want.sum(0)
configs = list(itertools.product((64, 128), (128,), (8, 16), (16, 32), (4, 8), (2, 3)))  # BM, BN, BI, SPLIT, warps, stages
rows = []
for bm, bn, bi, split, warps, stages in configs:
    part = torch.empty(split, kt, n_out, device="cuda")

    def run(part=part, bm=bm, bn=bn, bi=bi, split=split, warps=warps, stages=stages):
        dwt_kernel[(triton.cdiv(n_in, bi), split)](gy, x, grid, part, m, n_in, n_out, gy.stride(0), x.stride(0),
                                                   n_out, kt * n_out, Q=grid.shape[1], CP=cp, K=3, BM=bm, BN=bn,
                                                   BI=bi, SPLIT=split, num_warps=warps, num_stages=stages)
    try:
        run()
        torch.cuda.synchronize()
        err = ((part.sum(0) - ws).abs().max() / ws.abs().max()).item()
        t = [graph_calls_ms(shipped), graph_calls_ms(run)]
        rows.append((t[1] / t[0], bm, bn, bi, split, warps, stages, t, err))
        print(f"BM {bm} BN {bn} BI {bi} split {split} warps {warps} stages {stages}: shipped {t[0]:.4f} ms, "
              f"dW^T {t[1]:.4f} ms (max rel {err:.1e})", flush=True)
    except Exception as e:
        print(f"BM {bm} BN {bn} BI {bi} split {split} warps {warps} stages {stages}: {type(e).__name__}: {str(e)[:150]}",
              flush=True)
rows.sort()
print("## best five (dW^T / shipped):")
for r in rows[:5]:
    print(f"{r[0]:.3f}: BM {r[1]} BN {r[2]} BI {r[3]} split {r[4]} warps {r[5]} stages {r[6]}, ms {r[7][1]:.4f} vs {r[7][0]:.4f}, rel {r[8]:.1e}")
