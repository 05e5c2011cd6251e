"""What the forty-second session's offline probes share: compile one Triton kernel for an H100/H200 (sm_90) without a
GPU (every pointer and integer argument but M assumed 16-divisible, as the launches pass them), assemble it with
Triton's ptxas and disassemble it with cuobjdump. Run the probes outside the CPU interpreter (env -u TRITON_INTERPRET)."""
import collections
import re
import subprocess

import triton
from triton.backends.compiler import GPUTarget
from triton.backends.nvidia.compiler import get_ptxas
from triton.compiler import ASTSource

TARGET = GPUTarget("cuda", 90, 32)
ARITH = r"^\s*((?:fma|mul|add|sub|max|min|abs|neg|selp|cvt|setp)\.[\w.]+)"  # the PTX arithmetic the tables count


def compile_sm90(fn, sig, consts, warps=4, stages=3):
    """``fn`` compiled with argument types ``sig`` and constexprs ``consts``: (compiled kernel, its PTX, stats), stats a
    dict of registers, spilled bytes, shared memory, SASS instruction count and PTX opcode counters (global stores,
    PTX arithmetic), and the SASS listing itself."""
    sig = dict(sig, **{k: "constexpr" for k in consts})
    attrs = {(i,): [["tt.divisibility", 16]] for i, (k, v) in enumerate(sig.items()) if v != "constexpr" and k != "M"}
    src = ASTSource(fn=fn, signature=sig, attrs=attrs, constexprs={(fn.arg_names.index(k),): v for k, v in consts.items()})
    kernel = triton.compile(src, target=TARGET, options=dict(num_warps=warps, num_stages=stages))
    ptx = kernel.asm["ptx"]
    with open("/tmp/sm90_probe.ptx", "w") as f:
        f.write(ptx)
    ptxas = get_ptxas(90).path
    log = subprocess.run([ptxas, "-v", "--gpu-name=sm_90a", "/tmp/sm90_probe.ptx", "-o", "/tmp/sm90_probe.o"],
                         capture_output=True, text=True).stderr
    sass = subprocess.run([ptxas.replace("ptxas", "cuobjdump"), "-sass", "/tmp/sm90_probe.o"], capture_output=True,
                          text=True).stdout
    stats = dict(regs=re.findall(r"Used (\d+) registers", log), spill=re.findall(r"(\d+) bytes spill stores", log),
                 smem=kernel.metadata.shared, sass=len(re.findall(r"^\s+/\*[0-9a-f]{4}\*/", sass, re.M)),
                 stores=collections.Counter(re.findall(r"\b(st\.global[.\w]*|cp\.async\.bulk\.tensor[.\w]*)", ptx)),
                 arith=collections.Counter(re.findall(ARITH, ptx, re.M)), listing=sass)
    return kernel, ptx, stats
