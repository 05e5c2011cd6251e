"""Offline (no GPU), run by patch_check.sh: with colaunch.patch applied (the kernels' programs moved into functions of
their program ids), the shipped kernels compile for sm_90 to the same SASS as before it (``BEFORE``: triton_kan.py
with dx_rows_mode4.patch alone), and the patch's three co-launching kernels take no more registers or shared memory
than the large kernel each extends. Run: env -u TRITON_INTERPRET PYTHONPATH=<patched tree>:bench/results/2026-12-04-fortysecond/local
python <this> BEFORE"""
import importlib.util
import re
import sys

from sigs import (BASES_PACK_SIG, BASES_SIG, DX_BASES_SIG, DX_BASES_UNPACK_SIG, DX_ROWS_SIG, DX_ROWS_UNPACK_SIG,
                  PACK_SIG, ROW, UNPACK_SIG, ordered)
from sm90_probe import compile_sm90
from vkan.ops import triton_kan as new

spec = importlib.util.spec_from_file_location("triton_kan_before", sys.argv[1])
old = importlib.util.module_from_spec(spec)
spec.loader.exec_module(old)

ROWS = dict(ROW, BM=64, BI=16, K1=64, K2=16, PRECISION="tf32")
SHIPPED = [
    ("kan_pack_kernel", PACK_SIG, dict(CP=8, HAS_SCALER=True, HAS_BASE=True, HAS_W=False, BO=8, BI=16), 3),
    ("kan_unpack_kernel", UNPACK_SIG, dict(CP=8, HAS_SCALER=True, HAS_BASE=True, BO=16, BI=2), 3),
    ("kan_bases_kernel", BASES_SIG, dict(ROW, BM=64, BI=32), 1),
    ("kan_dx_bases_kernel", DX_BASES_SIG, dict(ROW, BM=32, BI=16), 1),
    ("kan_dx_rows_kernel", DX_ROWS_SIG, ROWS, 3),
    ("kan_dx_rows_kernel", DX_ROWS_SIG, dict(ROWS, UNIFORM=False, PACKED=False), 3),
]
CO = [  # (kernel, signature, constexprs, stages, the SHIPPED row of the large kernel it extends)
    ("kan_bases_pack_kernel", BASES_PACK_SIG, dict(ROW, HAS_SCALER=True, BM=64, BI=32, PO=8, PI=16), 1, 2),
    ("kan_dx_bases_unpack_kernel", DX_BASES_UNPACK_SIG, dict(ROW, HAS_SCALER=True, BM=32, BI=16, UO=16, UI=2), 1, 3),
    ("kan_dx_rows_unpack_kernel", DX_ROWS_UNPACK_SIG, dict(ROWS, HAS_SCALER=True, UO=16, UI=2), 3, 4),
]


def compiled(module, name, sig, consts, stages):
    fn = getattr(module, name)
    stats = compile_sm90(fn, ordered(fn, sig), consts, 4, stages)[2]
    listing = [re.sub(r"^\s+/\*[0-9a-f]{4}\*/\s+", "", line).split(";")[0] for line in stats["listing"].splitlines()
               if re.match(r"^\s+/\*[0-9a-f]{4}\*/", line)]
    return stats, listing


shipped = []
for name, sig, consts, stages in SHIPPED:
    (a, la), (b, lb) = compiled(old, name, sig, consts, stages), compiled(new, name, sig, consts, stages)
    shipped.append(b)
    print(f"{name} (uniform {consts.get('UNIFORM', '-')}): registers {a['regs']} -> {b['regs']}, SASS {a['sass']} -> "
          f"{b['sass']}, the same instructions: {la == lb}")
for name, sig, consts, stages, large in CO:
    s, _ = compiled(new, name, sig, consts, stages)
    same = int(s["regs"][0]) <= int(shipped[large]["regs"][0]) and s["smem"] <= shipped[large]["smem"]
    print(f"{name}: registers {s['regs']}, spilled {s['spill']}, shared memory {s['smem']}, SASS {s['sass']}; no more "
          f"registers or shared memory than {SHIPPED[large][0]}: {same}")
