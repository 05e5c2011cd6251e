"""Experiment for the device (prepared in the forty-fourth session, offline): the compiled tiny/4 training step under
CUDA graphs ("auto-keep"), the MLP twin against KAN with the held-columns input grad as shipped and in dx_rows_exp's
modes 3 and 4 (``dx_rows_exp.swap_in``, while that model compiles), and mode 4 with fc1's weight-grad product over 4
row blocks (the forty-third session's exp_blocks_model.py); 3 interleaved rounds, one process (the forty-third
session's ``ab.compare``). Usage: TORCHINDUCTOR_FX_GRAPH_CACHE=0 TORCHINDUCTOR_AUTOGRAD_CACHE=0
PYTHONPATH=.:bench/results/2026-12-04-fortythird/local:bench/results/2026-12-04-fortyfourth/local
python bench/results/2026-12-04-fortyfourth/local/exp_dx_rows_model.py ROUNDS"""
import sys

from ab import compare
from dx_rows_exp import swap_in
from exp_blocks_model import fc1_at_4

M3, M4 = swap_in(3), swap_in(4)
compare([("mlp", "mlp", {}), ("kan as shipped", "kan", {}),
         ("kan, input grad mode 3 (geometry once, coefficient-major columns, v by one FMA)", "kan", M3),
         ("kan, input grad mode 4 (and the shorter derivative string)", "kan", M4),
         ("kan, input grad mode 4, fc1's weight grad over 4 row blocks", "kan", dict(M4, _dw_row_blocks=fc1_at_4))],
        int(sys.argv[1]))
