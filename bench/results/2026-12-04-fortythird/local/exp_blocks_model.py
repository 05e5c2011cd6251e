"""Experiment for the device (prepared in the forty-third session, not yet run): the compiled tiny/4 training step under
CUDA graphs ("auto-keep"), the MLP twin against KAN with the GEMM path's weight-grad product over the shipped row blocks
(8 at both layers) and over 4 at fc1 (192 -> 80; the forty-second session's layer timing: 0.0364 ms against 0.0383,
fc2 fastest at 8), ``kan_op._dw_row_blocks`` replaced while that model compiles (``ab.compare``); 3 interleaved
rounds, one process. Usage: TORCHINDUCTOR_FX_GRAPH_CACHE=0 TORCHINDUCTOR_AUTOGRAD_CACHE=0
PYTHONPATH=.:bench/results/2026-12-04-fortythird/local python exp_blocks_model.py ROUNDS"""
import sys

from vkan.ops import kan_op
from ab import compare

SHIPPED = kan_op._dw_row_blocks


def fc1_at_4(m, kt, n_out):
    return 4 if n_out == 80 and m % 4 == 0 else SHIPPED(m, kt, n_out)


if __name__ == "__main__":
    compare([("mlp", "mlp", {}), ("kan as shipped", "kan", {}),
             ("kan, fc1's weight grad over 4 row blocks", "kan", {"_dw_row_blocks": fc1_at_4})], int(sys.argv[1]))
