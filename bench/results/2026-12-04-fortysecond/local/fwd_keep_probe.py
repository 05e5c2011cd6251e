import sys, subprocess, re
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
from triton.backends.nvidia.compiler import get_ptxas
from vkan.ops import triton_kan as tk
T = GPUTarget("cuda", 90, 32)
def comp(fn, sig, consts, warps=4, stages=3, name="k"):
    sig = dict(sig); sig.update({k: "constexpr" for k in consts})
    attrs = {(i,): [["tt.divisibility", 16]] for i, (k, v) in enumerate(sig.items()) if v != "constexpr" and k not in ("M",)}
    k = triton.compile(ASTSource(fn=fn, signature=sig, constexprs={(fn.arg_names.index(a),): v for a, v in consts.items()}, attrs=attrs), target=T, options=dict(num_warps=warps, num_stages=stages))
    ptx = k.asm["ptx"]; open(f"/tmp/{name}.ptx", "w").write(ptx); open(f"/tmp/{name}.ttgir", "w").write(k.asm["ttgir"])
    out = subprocess.run([get_ptxas(90).path, "-v", "--gpu-name=sm_90a", f"/tmp/{name}.ptx", "-o", "/tmp/k.o"], capture_output=True, text=True).stderr
    regs = re.findall(r"Used (\d+) registers", out)
    st = collections.Counter(re.findall(r"\b(st\.global[.\w]*)", ptx))
    ld = collections.Counter(re.findall(r"\b(ld\.global[.\w]*)", ptx))
    sh = collections.Counter(re.findall(r"\b((?:st|ld)\.shared[.\w]*)", ptx))
    print(name, "regs", regs, "smem", k.metadata.shared, dict(st), dict(ld), dict(sh))
import collections
sig = dict(x_ptr="*fp32", grid_ptr="*fp32", a_ptr="*bf16", M="i32", I="i32", stride_xm="i32", stride_am="i32")
comp(tk.kan_bases_kernel, sig, dict(Q=12, CP=8, K=3, UNIFORM=True, ACT=1, HAS_BASE=True, BM=64, BI=32), 4, 1, "bases")
import importlib.util
spec = importlib.util.spec_from_file_location("tk_keep", sys.argv[1]); tkk = importlib.util.module_from_spec(spec); spec.loader.exec_module(tkk)
sig = dict(x_ptr="*fp32", grid_ptr="*fp32", w_ptr="*bf16", y_ptr="*bf16", a_ptr="*bf16", M="i32", I="i32", O="i32", stride_xm="i32", stride_wk="i32", stride_ym="i32", stride_am="i32")
for keep in (False, True):
    comp(tkk.kan_fwd_kernel, sig, dict(Q=12, CP=8, K=3, UNIFORM=True, ACT=1, HAS_BASE=True, KEEP=keep, BM=64, BN=128, N2=0, BI=16, BIB=64, PRECISION="tf32"), 4, 3, f"fwd_keep{int(keep)}")
