"""Offline sm_90 compile of fwd_keep_tma.py's three modes at fc1's tiles: registers, spills, shared memory, stores.
Usage: env -u TRITON_INTERPRET PYTHONPATH=. python fwd_keep_tma_probe.py"""
import collections, os, re, subprocess, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
from triton.backends.nvidia.compiler import get_ptxas
from fwd_keep_tma import fwd_keep_kernel as kern

T = GPUTarget("cuda", 90, 32)
sig = dict(x_ptr="*fp32", grid_ptr="*fp32", w_ptr="*bf16", y_ptr="*bf16", a_ptr="*bf16", M="i32", I="i32", O="i32",
           KT="i32", stride_xm="i32", stride_wk="i32", stride_ym="i32")
for mode in (0, 1, 2):
    consts = dict(Q=12, CP=8, ACT=1, BM=64, BN=128, BI=16, BIB=64, MODE=mode)
    sg = dict(sig)
    sg.update({k: "constexpr" for k in consts})
    attrs = {(i,): [["tt.divisibility", 16]] for i, (k, v) in enumerate(sg.items()) if v != "constexpr" and k != "M"}
    k = triton.compile(ASTSource(fn=kern, signature=sg, attrs=attrs,
                                 constexprs={(kern.arg_names.index(a),): v for a, v in consts.items()}),
                       target=T, options=dict(num_warps=4, num_stages=3))
    ptx = k.asm["ptx"]
    open(f"/tmp/fwd_keep{mode}.ptx", "w").write(ptx)
    out = subprocess.run([get_ptxas(90).path, "-v", "--gpu-name=sm_90a", f"/tmp/fwd_keep{mode}.ptx", "-o",
                          "/tmp/fwd_keep.o"], capture_output=True, text=True).stderr
    stores = collections.Counter(re.findall(r"\b(st\.global[.\w]*|cp\.async\.bulk\.tensor[.\w]*)", ptx))
    waits = len(re.findall(r"cp\.async\.bulk\.wait_group", ptx))
    regs, spills = re.findall(r"Used (\d+) registers", out), re.findall(r"(\d+) bytes spill stores", out)
    print(f"mode {mode}: regs {regs} spill {spills} smem {k.metadata.shared} stores {dict(stores)} bulk waits {waits}")
