"""CPU check of colaunch.py under Triton's interpreter, fp32 layers on the GEMM path ("gemm-keep"): its forward and
backward against kan_op's as shipped, every output bit for bit (MODE 0 and the unpack's loop; MODE 4 and the unpack's
one load of all partials to 1e-5), with the held-columns input grad (the interpreter's fp32 layers otherwise take
cuBLAS's dA: ``_dx_rows_chosen`` is forced both ways) at both unpack placements, the shipped and a larger unpack tile,
partial tiles, spline-only and scaler-free layers, a non-uniform grid, inputs beyond the grid. Outside the interpreter
it checks that inductor's copies of the three kernels' sources parse. Run: [env -u TRITON_INTERPRET | TRITON_INTERPRET=1]
PYTHONPATH=.:bench/results/2026-12-04-fortyfourth/local:bench/results/2026-12-05-fortyfifth/local python <this>"""
import ast
import os
from unittest import mock

import torch
from torch._inductor.codegen.wrapper import user_defined_triton_kernel_transitive_closure_source_code

import colaunch as c
from vkan import KANLinear
from vkan.ops import kan_op


def layer_args(n_in, n_out, has_base, has_scaler, uniform):
    layer = KANLinear(n_in, n_out, enable_standalone_scale_spline=has_scaler)
    with torch.no_grad():
        layer.spline_weight.normal_()
        if not uniform:  # strictly increasing, unevenly spaced knots
            layer.grid.copy_(torch.sort(torch.rand_like(layer.grid) * 4 - 2, dim=1).values)
    scaler = layer.spline_scaler if has_scaler else None
    return layer.grid, layer.spline_weight, scaler, layer.base_weight if has_base else None


def compare(got, want, exact, what):
    for g, w in zip(got, want):
        if w is None:
            assert g is None, what
            continue
        err = ((g - w).norm() / w.norm().clamp_min(1e-30)).item()
        assert (torch.equal(g, w) if exact else err < 1e-5), (what, err)


def interpreted():
    torch.manual_seed(0)
    m, cases = 200, 0
    for n_in, n_out, has_base, has_scaler, uniform in ((32, 16, True, True, True), (48, 80, True, True, True),
                                                       (24, 40, False, True, True), (20, 24, True, False, True),
                                                       (32, 24, True, True, False)):
        grid, sw, sc, bw = layer_args(n_in, n_out, has_base, has_scaler, uniform)
        x = torch.randn(m, n_in) * 1.7  # some beyond the grid
        gy = torch.randn(m, n_out)
        args = (x, grid, sw, sc, bw, 3, uniform, 1, torch.float32, "gemm-keep")
        y, w, wt, cp, a = c.SHIPPED[0](*args)
        got = c.forward(*args)
        compare(got[:1] + got[2:3] + got[4:], (y, wt, a), True, ("forward", n_in, n_out))
        assert got[1] is None and got[3] == cp
        for held in (True, False):
            with mock.patch.object(kan_op, "_dx_rows_chosen", lambda *_, held=held: held):
                bargs = (gy, x, grid, wt, cp, sw, sc, bw, 3, uniform, 1, True, True, "gemm-keep", a)
                want_dx, want_g = c.SHIPPED[1](*bargs)
                settings = [(at, mode) for at in (1, 2) for mode in ((0, 4) if uniform else (0,))] if held else [()]
                for tile, wide in ((None, False), ((16, 8), False), ((16, 8), True)):
                    for s in settings:
                        c.UNPACK_TILE, c.UNPACK_WIDE = tile, wide
                        if s:
                            c.DX_ROWS.update(AT=s[0], MODE=s[1])
                        dx, g = c.backward(*bargs)
                        what = (n_in, n_out, held, tile, wide, s)
                        compare((dx,), (want_dx,), not s or s[1] == 0, ("dx",) + what)
                        compare(g, want_g, not wide, ("grads",) + what)  # wide: the partials summed in a tree
                        cases += 1
        print(f"{n_in}->{n_out} base {has_base} scaler {has_scaler} uniform {uniform}: forward and backward equal")
    c.UNPACK_TILE, c.UNPACK_WIDE, c.DX_ROWS["AT"], c.DX_ROWS["MODE"] = None, False, 1, 0
    # as ab.compare swaps them in, through the layer
    with mock.patch.multiple(kan_op, **c.swap_in(at=2, mode=4, tile=(16, 8), wide=True)):
        layer = KANLinear(48, 80)
        x = torch.randn(m, 48, requires_grad=True)
        from vkan.ops import fused_kan_linear
        out = fused_kan_linear(x, layer.grid, layer.spline_weight, layer.spline_scaler, layer.base_weight,
                               path="gemm-keep")
        out.float().sum().backward()
        assert x.grad is not None and layer.spline_weight.grad is not None
    print(f"{cases} backward cases equal; the layer's autograd runs through swap_in")


def inductor_copies():
    for kernel in (c.kan_bases_pack_kernel, c.kan_dx_bases_unpack_kernel, c.kan_dx_rows_unpack_kernel):
        ast.parse(user_defined_triton_kernel_transitive_closure_source_code(kernel))
    print("inductor's copies of the three kernels parse")


if __name__ == "__main__":
    interpreted() if os.environ.get("TRITON_INTERPRET") == "1" else inductor_copies()
