"""Experiment for the device (prepared in the forty-fourth session, offline): the compiled tiny/4 training step under
CUDA graphs ("auto-keep"), the MLP twin against KAN with the held-columns input grad as shipped and in dx_rows_exp's
modes 3 and 4 (put in ``kan_op._DX_ROWS`` while that model compiles), and mode 4 with fc1's weight-grad product over 4
row blocks (as the forty-third session's exp_blocks_model.py); 3 interleaved rounds, one process (the forty-third
session's ``ab.compare``). Usage: TORCHINDUCTOR_FX_GRAPH_CACHE=0 TORCHINDUCTOR_AUTOGRAD_CACHE=0
PYTHONPATH=.:bench/results/2026-12-04-fortythird/local:bench/results/2026-12-04-fortyfourth/local
python bench/results/2026-12-04-fortyfourth/local/exp_dx_rows_model.py ROUNDS"""
import sys

from vkan.ops import kan_op
from vkan.ops.launch import Launcher
from ab import compare
from dx_rows_exp import kan_dx_rows_m3_kernel, kan_dx_rows_m4_kernel

NAMES = kan_op._DX_ROWS.tensor_names
BLOCKS = kan_op._dw_row_blocks


def fc1_at_4(m, kt, n_out):
    """4 row blocks at ViT-tiny's fc1 (80 outputs; the forty-second session's fastest there), else the shipped rule."""
    return 4 if n_out == 80 and m % 4 == 0 else BLOCKS(m, kt, n_out)


M3 = {"_DX_ROWS": Launcher(kan_dx_rows_m3_kernel, NAMES)}
M4 = {"_DX_ROWS": Launcher(kan_dx_rows_m4_kernel, NAMES)}
compare([("mlp", "mlp", {}), ("kan as shipped", "kan", {}),
         ("kan, input grad mode 3 (geometry once, coefficient-major columns, v by one FMA)", "kan", M3),
         ("kan, input grad mode 4 (and the shorter derivative string)", "kan", M4),
         ("kan, input grad mode 4, fc1's weight grad over 4 row blocks", "kan", dict(M4, _dw_row_blocks=fc1_at_4))],
        int(sys.argv[1]))
