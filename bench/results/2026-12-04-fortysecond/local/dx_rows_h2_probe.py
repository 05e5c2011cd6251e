import sys, re, subprocess
sys.path.insert(0, __import__("os").path.dirname(__import__("os").path.abspath(__file__)))
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
from triton.backends.nvidia.compiler import get_ptxas
from dx_rows_h2 import kan_dx_rows_h2_kernel as kern
from vkan.ops import kan_op
T = GPUTarget("cuda", 90, 32)
sig = dict(gy_ptr="*bf16", x_ptr="*fp32", grid_ptr="*fp32", wt_ptr="*bf16", dx_ptr="*fp32", M="i32", I="i32", O="i32", stride_gm="i32", stride_xm="i32", stride_wo="i32", stride_dm="i32")
consts = dict(Q=12, CP=8, K=3, UNIFORM=True, ACT=1, HAS_BASE=True, BM=64, BI=16, K1=64, K2=16, PRECISION="tf32")
sg = dict(sig); sg.update({k: "constexpr" for k in consts})
attrs = {(i,): [["tt.divisibility", 16]] for i, (k, v) in enumerate(sg.items()) if v != "constexpr" and k != "M"}
k = triton.compile(ASTSource(fn=kern, signature=sg, constexprs={(kern.arg_names.index(a),): v for a, v in consts.items()}, attrs=attrs), target=T, options=dict(num_warps=4, num_stages=3))
open("/tmp/h2.ptx", "w").write(k.asm["ptx"])
out = subprocess.run([get_ptxas(90).path, "-v", "--gpu-name=sm_90a", "/tmp/h2.ptx", "-o", "/tmp/h2.o"], capture_output=True, text=True).stderr
print("regs", re.findall(r"Used (\d+) registers", out), "spill", re.findall(r"(\d+) bytes spill stores", out), "f16x2 fma", k.asm["ptx"].count("fma.rn.f16x2"))
print("param names match the shipped launcher:", tuple(kern.arg_names) == tuple(kan_op._DX_ROWS.kernel.arg_names))
