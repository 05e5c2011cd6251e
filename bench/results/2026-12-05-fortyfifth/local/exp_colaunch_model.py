"""Experiment for the device (prepared in the forty-fifth session, offline): the compiled tiny/4 training step under
CUDA graphs ("auto-keep") side by side, one process (the forty-third session's ``ab.compare``): the MLP twin, KAN as
shipped, KAN with dx_rows_exp's MODE 4 input grad (forty-fourth session), and KAN with colaunch.py's launches (pack
with the bases, unpack with the input grads; 48 launches a step fewer) with the shipped row loop and with MODE 4.
Usage: TORCHINDUCTOR_FX_GRAPH_CACHE=0 TORCHINDUCTOR_AUTOGRAD_CACHE=0
PYTHONPATH=.:bench/results/2026-12-04-fortythird/local:bench/results/2026-12-04-fortyfourth/local:bench/results/2026-12-05-fortyfifth/local
python bench/results/2026-12-05-fortyfifth/local/exp_colaunch_model.py ROUNDS AT TILE WIDE: the held-columns kernel's
unpack placement (1 or 2), the co-launched unpack's tile ("shipped" or OUTPUTSxINPUTS, e.g. 16x8) and whether it loads
all partials at once (0 or 1), as exp_colaunch.py found fastest."""
import sys

import colaunch
import dx_rows_exp
from ab import compare

rounds, at, tile, wide = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4] == "1"
tile = None if tile == "shipped" else tuple(int(n) for n in tile.split("x"))
how = f"AT {at}, unpack tile {sys.argv[3]}{', all partials a load' if wide else ''}"
compare([("mlp", "mlp", {}), ("kan as shipped", "kan", {}),
         ("kan, input grad MODE 4", "kan", dx_rows_exp.swap_in(4)),
         (f"kan, co-launched ({how}), shipped row loop", "kan", colaunch.swap_in(at, 0, tile, wide)),
         (f"kan, co-launched ({how}), MODE 4", "kan", colaunch.swap_in(at, 4, tile, wide))], rounds)
