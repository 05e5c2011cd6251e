"""Experiment for the device (prepared in the forty-fifth session, offline): the compiled tiny/4 training step under
CUDA graphs ("auto-keep") side by side, one process (the forty-third session's ``ab.compare``): the MLP twin, KAN as
shipped, KAN with dx_rows_exp's MODE 4 input grad (forty-fourth session), and KAN with colaunch.py's launches (pack
with the bases, unpack with the input grads; 48 launches a step fewer) with the shipped row loop and with MODE 4.
Usage: TORCHINDUCTOR_FX_GRAPH_CACHE=0 TORCHINDUCTOR_AUTOGRAD_CACHE=0
PYTHONPATH=.:bench/results/2026-12-04-fortythird/local:bench/results/2026-12-04-fortyfourth/local:bench/results/2026-12-05-fortyfifth/local
python bench/results/2026-12-05-fortyfifth/local/exp_colaunch_model.py ROUNDS AT (AT: the held-columns kernel's unpack
placement, 1 or 2, as exp_colaunch.py found faster)."""
import sys

import colaunch
import dx_rows_exp
from ab import compare

rounds, at = int(sys.argv[1]), int(sys.argv[2])
compare([("mlp", "mlp", {}), ("kan as shipped", "kan", {}),
         ("kan, input grad MODE 4", "kan", dx_rows_exp.swap_in(4)),
         (f"kan, co-launched (AT {at}), shipped row loop", "kan", colaunch.swap_in(AT=at, MODE=0)),
         (f"kan, co-launched (AT {at}), MODE 4", "kan", colaunch.swap_in(AT=at, MODE=4))], rounds)
