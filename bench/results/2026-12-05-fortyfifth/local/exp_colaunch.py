"""Experiment for the device (prepared in the forty-fifth session, offline): colaunch.py's forward and backward against
the shipped ones (``kan_op._forward``/``_backward`` on "auto-keep", the GEMM path keeping A, as the compiled step runs
them) at ViT-tiny/4's fc1 (33280x192->80, fp32 X) and fc2 (33280x80->192, bf16 X) and ViT-S/16's (25216x384->160,
25216x160->384); bf16, packed bases, KANLinear's parameters with the spline weights drawn N(0, 0.1); ms as CUDA graphs
(20 calls a graph), 3 interleaved rounds, medians. Forward: the pack and bases kernels against one launch. Backward:
at the held-columns layers (both fc1) the unpack's placement (AT 1: programs in front; AT 2: run by the input grad's
programs) and tile (the shipped unpack's, 16 outputs x 2 inputs at ViT-tiny and 16 x 8 at ViT-S/16, or 16 x 8), with
the shipped row loop (MODE 0) and
dx_rows_exp's MODE 4, beside the shipped backward with MODE 4 swapped in (dx_rows_exp.swap_in), and the unpack
loading all partials at once (``colaunch.UNPACK_WIDE``); at fc2 the two tiles and the shipped one loading all at once.
Every output is compared with its reference (MODE 0: the shipped backward; MODE 4: the shipped backward with MODE 4),
printed as the largest difference over the largest value: 0 where equal, as all are but the gradients of an unpack
loading all partials at once (summed in another order). Usage, from the repository root:
L44=bench/results/2026-12-04-fortyfourth/local L=bench/results/2026-12-05-fortyfifth/local; PYTHONPATH=.:$L44:$L
python $L/exp_colaunch.py. Without a GPU (TRITON_INTERPRET=1) it runs once through at small shapes, untimed."""
import statistics
from unittest import mock

import torch

import colaunch as c
from dx_rows_exp import swap_in
from vkan import KANLinear
from vkan.bench import graph_calls_ms
from vkan.ops import kan_op

PATH = "auto-keep"
# the held-columns kernel's unpack: (AT, tile (outputs, inputs) or None for the shipped unpack's, all partials a load)
HELD = ((1, None, False), (1, (16, 8), False), (2, (16, 8), False), (2, (16, 8), True))
DEV = "cuda" if torch.cuda.is_available() else "cpu"
SHAPES = ((33280, 192, 80, torch.float32), (33280, 80, 192, torch.bfloat16), (25216, 384, 160, torch.float32),
          (25216, 160, 384, torch.bfloat16))
if DEV == "cpu":  # a dry run of the script's paths under the interpreter (its bf16 dots are not meaningful)
    SHAPES = ((256, 48, 80, torch.float32), (256, 40, 192, torch.bfloat16))

    def graph_calls_ms(fn):
        fn()
        return 0.0


def off(got, want):
    """The largest difference over the largest value among paired outputs (0: equal values)."""
    return max(((g.float() - w.float()).abs().max() / w.float().abs().max().clamp_min(1e-30)).item()
               for g, w in zip(got, want) if w is not None)


def flat(out):
    dx, grads = out
    return (dx, *grads)


def timed(fns, rounds=3):
    t = {k: [] for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            t[k].append(graph_calls_ms(fn))
    for k, v in t.items():
        print(f"  {k}: {statistics.median(v):.4f} ms ({' '.join(f'{u:.4f}' for u in v)})", flush=True)


for m, n_in, n_out, x_dtype in SHAPES:
    torch.manual_seed(0)
    layer = KANLinear(n_in, n_out).to(DEV)
    with torch.no_grad():
        layer.spline_weight.normal_(0, 0.1)
    params = (layer.grid, layer.spline_weight, layer.spline_scaler, layer.base_weight)
    x = torch.randn(m, n_in, device=DEV).to(x_dtype)
    gy = torch.randn(m, n_out, device=DEV, dtype=torch.bfloat16)
    fargs = (x, *params, 3, True, 1, torch.bfloat16, PATH)
    y, _, wt, cp, a = c.SHIPPED[0](*fargs)
    held = kan_op._dx_rows_chosen(n_in, n_out, wt.shape[1], cp, torch.bfloat16, True)
    parts = kan_op._dw_row_blocks(m, wt.shape[1], n_out)
    shipped = kan_op._UNPACK.arguments(kan_op._unpack_geometry(n_out, n_in, 8, cp, parts, wt.shape[1], True, True))
    print(f"{m}x{n_in}->{n_out}, X {str(x_dtype)[6:]}: input grad {'held columns' if held else 'dA + dX from dA'}, "
          f"{parts} partials, shipped unpack tile {shipped['BO']} outputs x {shipped['BI']} inputs", flush=True)
    got = c.forward(*fargs)
    print(f"  forward co-launched: Y, W^T and A off by {off((got[0], got[2], got[4]), (y, wt, a)):.1e}", flush=True)
    timed({"forward, shipped (pack, bases, product)": lambda: c.SHIPPED[0](*fargs),
           "forward, pack co-launched with the bases": lambda: c.forward(*fargs)})

    bargs = (gy, x, layer.grid, wt, cp, *params[1:], 3, True, 1, True, True, PATH, a)
    want = flat(c.SHIPPED[1](*bargs))
    fns = {"backward, shipped": lambda: c.SHIPPED[1](*bargs)}
    shipped_tile = (shipped["BO"], shipped["BI"])
    settings = [(at, mode, t or shipped_tile, wide) for mode in (0, 4) for at, t, wide in HELD] if held else \
        [(1, 0, t or shipped_tile, wide) for t, wide in ((None, False), ((16, 8), False), (None, True))]
    settings = list(dict.fromkeys(settings))  # each form once (the shipped tile is 16 x 8 at ViT-S/16)
    if held:
        with mock.patch.multiple(kan_op, **swap_in(4)):
            want4 = flat(c.SHIPPED[1](*bargs))

        def shipped4():
            with mock.patch.multiple(kan_op, **swap_in(4)):
                return c.SHIPPED[1](*bargs)
        fns["backward, shipped with MODE 4"] = shipped4
    for at, mode, tile, wide in settings:
        def run(at=at, mode=mode, tile=tile, wide=wide):
            c.DX_ROWS.update(AT=at, MODE=mode)
            c.UNPACK_TILE, c.UNPACK_WIDE = tile, wide
            return c.backward(*bargs)
        label = (f"backward co-launched, {f'AT {at}, MODE {mode}, ' if held else ''}"
                 f"unpack tile {tile[0]} x {tile[1]}{' (shipped)' if tile == shipped_tile else ''}"
                 f"{', all partials a load' if wide else ''}")
        diff = off(flat(run()), want4 if mode == 4 else want)
        print(f"  {label}: off by {diff:.1e} from the shipped{' with MODE 4' if mode == 4 else ''}", flush=True)
        fns[label] = run
    timed(fns)
