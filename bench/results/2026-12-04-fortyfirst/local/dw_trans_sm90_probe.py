import sys, subprocess, re, importlib.util
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
spec = importlib.util.spec_from_file_location("tk_trans", "/tmp/tr/tk_trans.py"); tk = importlib.util.module_from_spec(spec); spec.loader.exec_module(tk)
src = open("/work/main/bench/results/2026-12-04-fortyfirst/call9/exp_dwt.py").read().split("m, n_in, n_out = 33280")[0].replace("from vkan.ops.triton_kan import _bases", "")
open("/tmp/tr/dwt_mod.py", "w").write(src + "\n")
import sys; sys.path.insert(0, "/tmp/tr")
spec2 = importlib.util.spec_from_file_location("dwt_mod", "/tmp/tr/dwt_mod.py"); dm = importlib.util.module_from_spec(spec2)
dm.__dict__["_bases"] = tk._bases
spec2.loader.exec_module(dm)
T = GPUTarget("cuda", 90, 32)
from triton.backends.nvidia.compiler import get_ptxas
def stats(fn, sig, consts, warps=4, stages=3):
    sig = dict(sig); sig.update({k: "constexpr" for k in consts})
    attrs = {(i,): [["tt.divisibility", 16]] for i, (k, v) in enumerate(sig.items()) if v != "constexpr" and k not in ("M",)}
    k = triton.compile(ASTSource(fn=fn, signature=sig, constexprs={(fn.arg_names.index(a),): v for a, v in consts.items()}, attrs=attrs), target=T, options=dict(num_warps=warps, num_stages=stages))
    open("/tmp/tr/k.ptx", "w").write(k.asm["ptx"])
    out = subprocess.run([get_ptxas(90).path, "-v", "--gpu-name=sm_90a", "/tmp/tr/k.ptx", "-o", "/tmp/tr/k.o"], capture_output=True, text=True).stderr
    regs = re.findall(r"Used (\d+) registers", out); spill = re.findall(r"(\d+) bytes spill stores", out)
    return f"regs {regs} spill stores {spill} shared {k.metadata.shared}"
p = dict(gy_ptr="*bf16", x_ptr="*fp32", grid_ptr="*fp32", part_ptr="*fp32", M="i32", I="i32", O="i32")
print("exp dwt_kernel:", stats(dm.dwt_kernel, dict(p, stride_gm="i32", stride_xm="i32", stride_pk="i32", stride_ps="i32"),
      dict(Q=12, CP=8, K=3, BM=64, BN=128, BI=8, SPLIT=16)))
base = dict(p, NSB="i32", stride_gm="i32", stride_xm="i32", stride_pk="i32", stride_ps="i32")
for trans in (True, False):
    c = dict(Q=12, CP=8, K=3, UNIFORM=True, ACT=1, BM=64, BN=128 if trans else 64, N2=0 if trans else 16, BI=8 if trans else 16, BIB=64, SPLIT=16, TRANS=trans, PRECISION="tf32")
    print(f"kan_dw_kernel TRANS={trans}:", stats(tk.kan_dw_kernel, base, c))
