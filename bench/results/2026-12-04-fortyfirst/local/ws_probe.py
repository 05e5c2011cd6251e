import sys, re
import triton, triton.language as tl
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
sys.path.insert(0, "/work/main")
from vkan.ops import triton_kan as tk
_tile, _bases, _act = tk._tile, tk._bases, tk._act

@triton.jit
def fwd_ws(x_ptr, grid_ptr, w_ptr, y_ptr, M, I, O, stride_xm, stride_wk, stride_ym,
           Q: tl.constexpr, CP: tl.constexpr, K: tl.constexpr, UNIFORM: tl.constexpr, ACT: tl.constexpr,
           BM: tl.constexpr, BN: tl.constexpr, BI: tl.constexpr, WS: tl.constexpr):
    pid_m = tl.program_id(0)
    offs_m = pid_m * BM + tl.arange(0, BM)
    offs_n = tl.arange(0, BN)
    offs_k = tl.arange(0, BI * CP)
    acc = tl.zeros((BM, BN), dtype=tl.float32)
    for i0 in tl.range(0, I, BI, warp_specialize=WS):
        offs_i = i0 + tl.arange(0, BI)
        x = _tile(x_ptr, offs_m, offs_i, stride_xm, M, I).to(tl.float32)
        b, _ = _bases(x, grid_ptr, offs_i, I, Q, CP, K, UNIFORM)
        a = tl.reshape(b, (BM, BI * CP)).to(w_ptr.dtype.element_ty)
        rows = i0 * CP + offs_k
        acc = tl.dot(a, _tile(w_ptr, rows, offs_n, stride_wk, I * CP, O), acc)
    tl.store(y_ptr + offs_m[:, None] * stride_ym + offs_n[None, :], acc.to(y_ptr.dtype.element_ty),
             mask=(offs_m[:, None] < M) & (offs_n[None, :] < O))

ws = sys.argv[1] == "1"
sig = dict(x_ptr="*fp32", grid_ptr="*fp32", w_ptr="*bf16", y_ptr="*bf16", M="i32", I="i32", O="i32",
           stride_xm="i32", stride_wk="i32", stride_ym="i32")
consts = dict(Q=12, CP=8, K=3, UNIFORM=True, ACT=1, BM=64, BN=128, BI=16, WS=ws)
sig.update({k: "constexpr" for k in consts})
attrs = {(i,): [["tt.divisibility", 16]] for i in range(10)}
src = ASTSource(fn=fwd_ws, signature=sig, constexprs={(fwd_ws.arg_names.index(k),): v for k, v in consts.items()}, attrs=attrs)
k = triton.compile(src, target=GPUTarget("cuda", 90, 32), options=dict(num_warps=4, num_stages=3))
ttgir = k.asm["ttgir"]
print("warp_specialize in ttgir:", "warp_specialize" in ttgir, "| wgmma:", "warp_group_dot" in ttgir, "| n_regs? shared:", k.metadata.shared)
open(f"fwd_ws{int(ws)}.ttgir", "w").write(ttgir)
open(f"fwd_ws{int(ws)}.ptx", "w").write(k.asm["ptx"])
