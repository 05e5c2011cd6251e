"""Experiment (forty-third session): the compiled tiny/4 training step under CUDA graphs ("auto-keep"), the MLP twin
against KAN with its row kernels as shipped and as rows_h2's variants (put in kan_op's launchers while that model
compiles, ``ab.compare``), 3 interleaved rounds, one process. Ran at dd14dd3 (call 3) with ``compare``'s body inline;
since 653d8d8 the shipped kernels take PACKED, so these variants (without it) no longer bind to the shipped geometries.
Usage: TORCHINDUCTOR_FX_GRAPH_CACHE=0 TORCHINDUCTOR_AUTOGRAD_CACHE=0
PYTHONPATH=.:bench/results/2026-12-04-fortysecond/local:bench/results/2026-12-04-fortythird/local
python exp_model.py ROUNDS"""
import sys

from vkan.ops import kan_op
from vkan.ops.launch import Launcher
from ab import compare
from dxh_kernel import kan_dx_rows_h2_kernel
import rows_h2

SHIPPED = {k: getattr(kan_op, k) for k in ("_DX_ROWS", "_DX_BASES", "_BASES")}
ROWS_M1 = {"_DX_ROWS": Launcher(rows_h2.kan_dx_rows_m1_kernel, SHIPPED["_DX_ROWS"].tensor_names)}
ROWS_H2 = {"_DX_ROWS": Launcher(kan_dx_rows_h2_kernel, SHIPPED["_DX_ROWS"].tensor_names)}
ALL_H2 = dict(ROWS_H2, _DX_BASES=Launcher(rows_h2.kan_dx_bases_h2_kernel, SHIPPED["_DX_BASES"].tensor_names),
              _BASES=Launcher(rows_h2.kan_bases_h2_kernel, SHIPPED["_BASES"].tensor_names))
compare([("mlp", "mlp", {}), ("kan as shipped", "kan", {}),
         ("kan, dX rows with 1/h after the sum (fp32)", "kan", ROWS_M1),
         ("kan, dX rows in packed fp16", "kan", ROWS_H2),
         ("kan, dX rows + dX from dA + bases in packed fp16", "kan", ALL_H2)], int(sys.argv[1]))
