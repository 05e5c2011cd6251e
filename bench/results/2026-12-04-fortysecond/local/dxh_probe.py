import os, sys, re, collections, subprocess
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
from triton.backends.nvidia.compiler import get_ptxas
import dxh_kernel as dk
T = GPUTarget("cuda", 90, 32)
sig = dict(gy_ptr="*bf16", x_ptr="*fp32", grid_ptr="*fp32", wt_ptr="*bf16", dx_ptr="*fp32", M="i32", I="i32", O="i32", stride_gm="i32", stride_xm="i32", stride_wo="i32", stride_dm="i32")
for mode in (0, 1, 2, 3):
    consts = dict(Q=12, CP=8, ACT=1, BM=64, BI=16, K1=64, K2=16, MODE=mode)
    sg = dict(sig); sg.update({k: "constexpr" for k in consts})
    attrs = {(i,): [["tt.divisibility", 16]] for i, (k, v) in enumerate(sg.items()) if v != "constexpr" and k != "M"}
    k = triton.compile(ASTSource(fn=dk.dxh_kernel, signature=sg, constexprs={(dk.dxh_kernel.arg_names.index(a),): v for a, v in consts.items()}, attrs=attrs), target=T, options=dict(num_warps=4, num_stages=3))
    ptx = k.asm["ptx"]; open(f"/tmp/dxh{mode}.ptx", "w").write(ptx)
    out = subprocess.run([get_ptxas(90).path, "-v", "--gpu-name=sm_90a", f"/tmp/dxh{mode}.ptx", "-o", "/tmp/k.o"], capture_output=True, text=True).stderr
    ops = collections.Counter(re.findall(r"^\s*((?:fma|mul|add|sub|max|min|abs|neg|selp|cvt|setp)\.[\w.]+)", ptx, re.M))
    f16 = {k_: v for k_, v in ops.items() if "f16" in k_}
    sass = subprocess.run([get_ptxas(90).path.replace("ptxas", "cuobjdump"), "-sass", "/tmp/k.o"], capture_output=True, text=True).stdout
    n_sass = len(re.findall(r"^\s+/\*[0-9a-f]{4}\*/", sass, re.M))
    print(mode, "sass instructions", n_sass, "regs", re.findall(r"Used (\d+) registers", out), "spill", re.findall(r"(\d+) bytes spill stores", out), "smem", k.metadata.shared, "total arith", sum(ops.values()), "f16 ops", f16)
